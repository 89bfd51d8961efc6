"""The decoder-only transformer, in one file.

Llama-style: pre-norm RMSNorm, rotary position embeddings (RoPE, rotate-half layout),
SwiGLU MLP, grouped-query attention through `scaled_dot_product_attention`, optional
per-head QK-norm (as in Qwen3 and OLMo 2) and tied input/output embeddings. Module names
follow Hugging Face's Llama so that exporting is a rename of the root, not a re-layout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainer.model_args import ModelArgs


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in fp32, as Llama does, then cast back."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rope_tables(args: ModelArgs, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (max_seq_len, head_dim), halves repeated (rotate-half layout)."""
    half = torch.arange(0, args.head_dim, 2, dtype=torch.float32, device=device) / args.head_dim
    inv_freq = 1.0 / (args.rope_base**half)
    angles = torch.outer(
        torch.arange(args.max_seq_len, dtype=torch.float32, device=device), inv_freq
    )
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat([-second, first], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class KVCache:
    """Keys and values of every layer for incremental decoding, preallocated to `max_len`.

    `pad` (batch,) counts each row's left padding: a batch of prompts of different lengths
    is left-padded to one width, so every row appends its next token at the same index. A
    row's positions then start at 0 at its first real token, and no token attends to its
    row's padding."""

    def __init__(
        self,
        args: ModelArgs,
        batch: int,
        max_len: int,
        dtype,
        device,
        pad: torch.Tensor | None = None,
    ) -> None:
        shape = (batch, args.n_kv_heads, max_len, args.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(args.n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(args.n_layers)]
        self.length = 0
        self.pad = pad

    def repeat(self, times: int) -> None:
        """Each row `times` times over, consecutively (a prompt's cache shared by its samples)."""
        self.keys = [k.repeat_interleave(times, dim=0) for k in self.keys]
        self.values = [v.repeat_interleave(times, dim=0) for v in self.values]
        if self.pad is not None:
            self.pad = self.pad.repeat_interleave(times)

    def positions(self, length: int) -> torch.Tensor:
        """(batch, length): the positions of `length` new tokens in each padded row."""
        index = torch.arange(self.length, self.length + length, device=self.pad.device)
        return (index[None] - self.pad[:, None]).clamp(min=0)

    def mask(self, length: int) -> torch.Tensor:
        """(batch, 1, length, cached + length): causal over the row's real tokens. A padding
        query sees only itself (its output is never used; a row of no keys would be NaN)."""
        end = self.length + length
        query = torch.arange(self.length, end, device=self.pad.device)[:, None]
        key = torch.arange(end, device=self.pad.device)[None]
        real_key = key[None] >= self.pad[:, None, None]
        padding_query = query[None] < self.pad[:, None, None]
        causal = key <= query
        return ((real_key & causal) | (padding_query & (key == query)))[:, None]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, layer: int) -> None:
        super().__init__()
        self.layer, self.n_heads, self.n_kv_heads = layer, args.n_heads, args.n_kv_heads
        self.head_dim = args.head_dim
        self.q_proj = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
        self.k_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.v_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.o_proj = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)
        self.q_norm = RMSNorm(args.head_dim, args.norm_eps) if args.qk_norm else None
        self.k_norm = RMSNorm(args.head_dim, args.norm_eps) if args.qk_norm else None

    def forward(self, x, cos, sin, cache: KVCache | None = None, mask=None) -> torch.Tensor:
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.update(self.layer, k, v)
        # Causal over the new tokens, each seeing the whole cache before them: a prefill is
        # plain causal; tokens appended to a cache need the bottom-right mask (SDPA's
        # is_causal is top-left); one new token sees everything. A given mask (packed
        # documents) replaces all that.
        causal = mask is None and length > 1 and start == 0
        if mask is None and length > 1 and start:
            mask = torch.ones(length, start + length, dtype=torch.bool, device=q.device)
            mask = mask.tril(start)
        gqa = self.n_kv_heads != self.n_heads
        if gqa and q.is_cuda and q.dtype == torch.float32:
            # fp32 with enable_gqa has only SDPA's math kernel on CUDA (memory grows with
            # seq²); with the key/value heads repeated the memory-efficient kernel runs.
            repeats = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(repeats, dim=1), v.repeat_interleave(repeats, dim=1)
            gqa = False
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=gqa
        )
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) · up(x))."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(args.dim, args.ffn_dim, bias=False)
        self.up_proj = nn.Linear(args.dim, args.ffn_dim, bias=False)
        self.down_proj = nn.Linear(args.ffn_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, layer: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.self_attn = Attention(args, layer)
        self.post_attention_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.mlp = MLP(args)

    def forward(self, x, cos, sin, cache: KVCache | None = None, mask=None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        self.embed_tokens = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(Block(args, i) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.lm_head = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tied_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        if args.num_labels:  # a reward model's (or classifier's) head on the hidden states
            self.score = nn.Linear(args.dim, args.num_labels, bias=False)
        cos, sin = rope_tables(args)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        if not self.rope_cos.is_meta:  # a meta-device model is initialised once materialised
            self.init_weights()

    @torch.no_grad()
    def init_weights(self, seed: int = 0) -> None:
        """Normal(0.02) weights; output projections scaled by 1/√(2·layers) (GPT-2); norms 1.

        Each parameter is drawn whole from its own generator (seed, its index) and each rank
        keeps its shard, so the weights are the same however the model is sharded."""
        cos, sin = rope_tables(self.args, device=self.rope_cos.device)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)
        residual_std = 0.02 / math.sqrt(2 * self.args.n_layers)
        for index, (name, param) in enumerate(self.named_parameters()):
            local = param.to_local() if hasattr(param, "to_local") else param
            if param.ndim < 2:
                local.fill_(1.0)
                continue
            std = residual_std if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
            generator = torch.Generator(local.device).manual_seed(seed * 1_000_003 + index)
            full = torch.empty(param.shape, dtype=local.dtype, device=local.device)
            full.normal_(0.0, std, generator=generator)
            local.copy_(shard_of(full, param))

    def forward(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        documents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The final hidden states of `tokens` (after the last norm), shape (batch, length, dim).

        `documents` (batch, length) gives each position's document in a packed row: a token
        then attends only to the earlier tokens of its document, and its position restarts at
        0 with each document, so a packed example computes what it would alone.

        The output projection is left to the loss (`trainer.loss`), which fuses it with the
        cross-entropy; `logits` applies it for generation and export."""
        start = cache.length if cache is not None else 0
        length = tokens.shape[1]
        if start + length > self.args.max_seq_len:
            raise ValueError(
                f"{start + length} positions: more than the model's max_seq_len "
                f"{self.args.max_seq_len}"
            )
        cos = self.rope_cos[start : start + length]
        sin = self.rope_sin[start : start + length]
        mask = None
        if cache is not None and cache.pad is not None:
            positions = cache.positions(length)
            cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
            mask = cache.mask(length)
        if documents is not None:
            positions = positions_in_documents(documents)
            cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
            mask = document_mask(documents)
        x = self.embed_tokens(tokens)
        for block in self.layers:
            x = block(x, cos, sin, cache, mask)
        if cache is not None:
            cache.length += length
        return self.norm(x)

    def logits(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.lm_head(self(tokens, cache))

    def cast(self, dtype: torch.dtype) -> Transformer:
        """Parameters in `dtype` (bf16 for inference), the RoPE tables left in fp32, as FSDP2's
        mixed precision leaves them in training. In place; returns the model."""
        cos, sin = self.rope_cos, self.rope_sin
        self.to(dtype)
        self.rope_cos, self.rope_sin = cos, sin
        return self


def positions_in_documents(documents: torch.Tensor) -> torch.Tensor:
    """Each position's offset from the start of its document (documents are contiguous runs)."""
    index = torch.arange(documents.shape[1], device=documents.device).expand_as(documents)
    starts = torch.ones_like(documents, dtype=torch.bool)
    starts[:, 1:] = documents[:, 1:] != documents[:, :-1]
    return index - torch.where(starts, index, 0).cummax(dim=1).values


def document_mask(documents: torch.Tensor) -> torch.Tensor:
    """(batch, 1, length, length): True where a query may attend, causal within its document."""
    same = documents[:, :, None] == documents[:, None, :]
    return same.tril()[:, None]


def shard_of(full: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """This rank's piece of `full` for a parameter FSDP2 sharded (a DTensor), or `full`."""
    if not hasattr(param, "placements"):
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(
        full, param.device_mesh, param.placements, src_data_rank=None
    ).to_local()


def parameter_count(args: ModelArgs) -> dict[str, int]:
    """Total parameters, and those that do matmul work per token (the embedding lookup does not)."""
    attn = args.dim * args.head_dim * (2 * args.n_heads + 2 * args.n_kv_heads)
    norms = 2 * args.dim + (2 * args.head_dim if args.qk_norm else 0)
    per_layer = attn + 3 * args.dim * args.ffn_dim + norms
    embedding = args.vocab_size * args.dim
    head = 0 if args.tied_embeddings else embedding
    total = embedding + head + args.n_layers * per_layer + args.dim
    untied_lookup = 0 if args.tied_embeddings else embedding
    return {"total": total, "matmul": total - untied_lookup}


def flops_per_token(args: ModelArgs, seq_len: int) -> float:
    """Training FLOPs per token: 6·N (forward + backward matmuls) plus attention's 12·L·d·T."""
    matmul_params = parameter_count(args)["matmul"]
    return 6 * matmul_params + 12 * args.n_layers * args.dim * seq_len
