"""Next-token cross-entropy fused with the output projection, a chunk of rows at a time.

The plain path materialises the logits of a whole micro-batch, a log-softmax of the same
size, its gradient and a zero-filled one-hot gradient: four (tokens × vocab) buffers and
two exponentials per element. Here each chunk of rows is projected, turned into
probabilities with one softmax, and, when gradients are wanted, into the gradients of
the hidden states and of the projection right away (as Liger's and Apple's fused linear
cross-entropy do). Only one chunk of logits exists at any time, and backward just scales
the saved gradients. The loss is the same mean cross-entropy (plus PaLM's z-loss).
"""

from __future__ import annotations

import threading

import torch

CHUNK_ELEMENTS = {"cpu": 1 << 20, "cuda": 1 << 26}
"""Logits per chunk (rows × vocab), bounded however long the micro-batch. On a CPU 4 MB in
fp32, so a chunk stays in cache; on a GPU 256 MB, for full-size matmuls and few chunks."""


def _rows_per_chunk(hidden: torch.Tensor, weight: torch.Tensor) -> int:
    chunk = CHUNK_ELEMENTS.get(hidden.device.type, CHUNK_ELEMENTS["cuda"])
    return max(1, chunk // weight.shape[0])


def linear_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, z_loss: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` against `targets`, + z_loss · mean(lse²).

    hidden: (tokens, dim), weight: (vocab, dim), targets: (tokens,) int64. Logits are made
    in the inputs' dtype (bf16 under FSDP2's mixed precision), softmax and loss in fp32, the
    projection's gradient summed in fp32; only the gradients that are wanted are computed
    (none for a frozen head).
    """
    device = hidden.device.type
    if torch.is_autocast_enabled(device):  # cast as autocast would for a linear layer
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    grads = torch.is_grad_enabled()
    wants = (grads and hidden.requires_grad, grads and weight.requires_grad)
    with torch.autocast(device, enabled=False):
        return _LinearCrossEntropy.apply(hidden, weight, targets, z_loss, wants)


def _add_product_fp32(total: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> None:
    """total += left @ right, summed in fp32 whatever the operands' dtype."""
    if left.dtype == torch.float32:
        total += left @ right
    elif left.is_cuda:  # bf16 operands, fp32 result straight from the kernel
        total += torch.mm(left, right, out_dtype=torch.float32)
    else:
        total += left.float() @ right.float()


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, z_loss: float, wants: tuple[bool, bool]):
        want_hidden, want_weight = wants
        tokens = hidden.shape[0]
        rows = _rows_per_chunk(hidden, weight)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        # (dim, vocab): hᵀ·g runs faster than gᵀ·h on the same data (no transposed big operand).
        grad_weight_t = (
            torch.zeros(weight.shape[::-1], dtype=torch.float32, device=weight.device)
            if want_weight
            else None
        )
        logits_buffer, probs_buffer = _chunk_buffers(
            (min(rows, tokens), weight.shape[0]), hidden.dtype, hidden.device
        )
        for start in range(0, tokens, rows):
            chunk_hidden = hidden[start : start + rows]
            chunk_targets = targets[start : start + rows, None]
            count = len(chunk_hidden)
            logits = torch.mm(chunk_hidden, weight.T, out=logits_buffer[:count])
            probs, nll, lse = _softmax_nll_lse(logits, chunk_targets, probs_buffer[:count])
            total += nll.sum()
            if z_loss:
                total += z_loss * lse.pow(2).sum()
            if want_hidden or want_weight:
                if z_loss:  # d(z·lse²)/dlogits = 2·z·lse·softmax
                    probs.mul_((1 + 2 * z_loss * lse)[:, None])
                probs.scatter_add_(1, chunk_targets, probs.new_full(chunk_targets.shape, -1.0))
                grad_logits = probs.to(hidden.dtype)
                if want_hidden:
                    torch.mm(grad_logits, weight, out=grad_hidden[start : start + rows])
                if want_weight:
                    _add_product_fp32(grad_weight_t, chunk_hidden.T, grad_logits)
        grad_weight = grad_weight_t.T.to(weight.dtype) if want_weight else None
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.tokens = tokens
        return total / tokens

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_loss / ctx.tokens
        return (
            None if grad_hidden is None else grad_hidden * scale,
            None if grad_weight is None else grad_weight * scale,
            None,
            None,
            None,
        )


class _HostBuffers(threading.local):
    def __init__(self) -> None:
        self.by_shape: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


_HOST_BUFFERS = _HostBuffers()


def _chunk_buffers(shape: tuple[int, int], dtype: torch.dtype, device: torch.device):
    """A chunk's logits (in `dtype`) and fp32 probabilities buffers.

    On a CPU they are kept between calls, one pair per shape and thread: PyTorch has no
    caching allocator for host memory, and glibc gives multi-MB blocks back to the OS when
    they are freed, so fresh chunks cost thousands of page faults a step. GPUs have one.
    """

    def fresh():
        logits = torch.empty(shape, dtype=dtype, device=device)
        return logits, torch.empty(shape, dtype=torch.float32, device=device)

    if device.type != "cpu":
        return fresh()
    key = (shape, dtype)
    if key not in _HOST_BUFFERS.by_shape:
        _HOST_BUFFERS.by_shape[key] = fresh()
    return _HOST_BUFFERS.by_shape[key]


def _softmax_nll_lse(logits: torch.Tensor, targets: torch.Tensor, out: torch.Tensor):
    """Softmax in fp32 (one exponential per element) into `out`, and each row's −log p_target
    and log-sum-exp.

    bf16 logits are read once into `out` as fp32, never copied whole. The log-sum-exp comes
    from the row's largest logit and its probability (lse = max − log p_max; p_max ≥ 1/vocab
    never underflows), so the loss lse − target logit is finite however far behind the target
    is, with no data-dependent branch: no device-to-host sync, no graph break.
    """
    row_max = logits.amax(dim=-1, keepdim=True)
    if logits.dtype == torch.float32:
        probs = torch.softmax(logits, dim=-1, out=out)
        lse = (row_max - probs.amax(dim=-1, keepdim=True).log()).squeeze(1)
    else:
        probs = torch.sub(logits, row_max, out=out).exp_()
        sums = probs.sum(dim=-1, keepdim=True)
        probs.div_(sums)
        lse = (row_max.float() + sums.log()).squeeze(1)
    nll = lse - logits.gather(1, targets).squeeze(1).float()
    return probs, nll, lse


def token_logprobs(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """log p(target) of each row of `hidden @ weight.T`, in fp32, shape (tokens,).

    For losses that weigh tokens differently (preference and RL losses, masked SFT): the
    backward takes one gradient per token, the weight that loss gives it, and recomputes each
    chunk's softmax, so no (tokens × vocab) buffer outlives a chunk.
    """
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    with torch.autocast(device, enabled=False):
        return _TokenLogprobs.apply(hidden, weight, targets)


class _TokenLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets):
        rows = _rows_per_chunk(hidden, weight)
        out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], rows):
            logits = (hidden[start : start + rows] @ weight.T).float()
            target = logits.gather(1, targets[start : start + rows, None]).squeeze(1)
            out[start : start + rows] = target - torch.logsumexp(logits, dim=-1)
        ctx.save_for_backward(hidden, weight, targets)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, targets = ctx.saved_tensors
        rows = _rows_per_chunk(hidden, weight)
        want_hidden, want_weight = ctx.needs_input_grad[:2]
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        for start in range(0, hidden.shape[0], rows):
            chunk_hidden = hidden[start : start + rows]
            chunk_targets = targets[start : start + rows, None]
            chunk_grad = grad_out[start : start + rows, None].float()
            probs = torch.softmax((chunk_hidden @ weight.T).float(), dim=-1)
            # d log p_t / d logits = onehot(t) − softmax, times this token's weight
            grad_logits = probs.mul_(-chunk_grad).scatter_add_(1, chunk_targets, chunk_grad)
            grad_logits = grad_logits.to(hidden.dtype)
            if want_hidden:
                torch.mm(grad_logits, weight, out=grad_hidden[start : start + rows])
            if want_weight:
                grad_weight += (grad_logits.T @ chunk_hidden).float()
        return grad_hidden, grad_weight.to(weight.dtype) if want_weight else None, None
