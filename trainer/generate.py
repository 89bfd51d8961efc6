"""Batched sampling with a KV cache: temperature and nucleus (top-p), and each sampled token's
log-probability.

Prompts of different lengths are left-padded to one width, so every row appends its next token
at the same cache index; the cache gives each row its own positions and hides its padding
(`KVCache.pad`). The cache is allocated once for the prompts and every new token, in the
model's compute dtype (bf16 on a GPU). A row that meets a stop id is finished: it keeps its
stop id and takes padding from then on, and generation ends when every row has finished
(every rank's, in a process group, so that FSDP's ranks run their forwards in step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from tokenizers import Tokenizer
from torch import nn

from trainer.chat import BOS_ID, END_ID, EOS_ID, PAD_ID, render
from trainer.errors import TrainingError
from trainer.model import KVCache, Transformer
from trainer.storage import Location, location

# As vLLM's sampler: a temperature this small divides logits past float32's range (softmax of
# inf is NaN), and its distribution is the argmax's anyway.
GREEDY_BELOW = 1e-5


class PromptTooLong(TrainingError):
    """A prompt that leaves no room in the model's context for a single new token."""


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.8
    """0 (or anything under GREEDY_BELOW) is greedy."""
    top_p: float = 0.95
    stop: tuple[int, ...] = (EOS_ID,)


@dataclass(frozen=True)
class Completions:
    """(rows, new) arrays: the sampled ids (a stop id included, padding after it), their
    log-probabilities under the model (temperature 1, before top-p; 0 on padding), and per
    row the count of ids (the stop id included) and whether a stop id ended it."""

    tokens: torch.Tensor
    logprobs: torch.Tensor
    lengths: torch.Tensor
    stopped: torch.Tensor

    def ids(self, row: int) -> list[int]:
        """Row `row`'s ids without its stop id."""
        length = int(self.lengths[row]) - int(self.stopped[row])
        return self.tokens[row, :length].tolist()


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    """One token id per row; a temperature under GREEDY_BELOW is greedy."""
    if temperature < GREEDY_BELOW:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p; the first token always survives,
        # so top_p 0 is greedy (as transformers' min_tokens_to_keep=1).
        outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        outside[:, 0] = False
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
    # Inverse transform: one uniform number per row against the cumulative distribution
    # (multinomial draws far more on a CPU); right=True never lands on a zero-mass token.
    cdf = probs.cumsum(-1)
    uniform = torch.rand((len(cdf), 1), generator=generator, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, uniform, right=True).squeeze(1).clamp(max=cdf.shape[-1] - 1)


def _all_finished(finished: torch.Tensor) -> bool:
    """Every row finished, on every rank of a process group."""
    left = (~finished).sum()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(left)
    return left.item() == 0


def _next_logits(model: nn.Module, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
    return model.lm_head(model(tokens, cache)[:, -1]).float()


@torch.no_grad()
def generate_batch(
    model: nn.Module,
    prompts: list[list[int]],
    sampling: Sampling,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    group: int = 1,
) -> Completions:
    """What follows each of `prompts`, `group` samples of each (rows prompt by prompt: GRPO's
    groups), the prompt's prefill computed once for its group. `dtype` is the model's compute
    dtype (default: its parameters'; FSDP2's `param_dtype` when it casts them)."""
    param = next(model.parameters())
    device, dtype = param.device, dtype or param.dtype
    width = max(len(ids) for ids in prompts)
    new = min(sampling.max_new_tokens, model.args.max_seq_len - width)
    if new <= 0:
        raise PromptTooLong(
            f"a prompt is {width} tokens; the model's context is {model.args.max_seq_len}"
        )
    padded = torch.full((len(prompts), width), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(prompts):
        padded[row, width - len(ids) :] = torch.tensor(ids)
    pad = torch.tensor([width - len(ids) for ids in prompts], device=device)
    cache = KVCache(model.args, len(prompts), width + new, dtype, device, pad=pad)
    logits = _next_logits(model, padded.to(device), cache).repeat_interleave(group, dim=0)
    cache.repeat(group)
    rows = len(prompts) * group
    stop = torch.tensor(sampling.stop, dtype=torch.long, device=device)
    tokens = torch.full((rows, new), PAD_ID, dtype=torch.long, device=device)
    logprobs = torch.zeros((rows, new), dtype=torch.float32, device=device)
    lengths = torch.zeros(rows, dtype=torch.long, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    for step in range(new):
        token = sample_next(logits, sampling.temperature, sampling.top_p, generator)
        token = token.masked_fill(finished, PAD_ID)
        logprob = logits.log_softmax(-1).gather(1, token[:, None]).squeeze(1)
        tokens[:, step] = token
        logprobs[:, step] = logprob.masked_fill(finished, 0.0)
        lengths += ~finished
        finished |= torch.isin(token, stop)
        if step + 1 == new or _all_finished(finished):
            break
        logits = _next_logits(model, token[:, None], cache)
    return Completions(tokens, logprobs, lengths, finished)


def sample_ids(
    model: nn.Module, prompts: list[list[int]], sampling: Sampling, seed: int = 0
) -> list[list[int]]:
    """Each prompt's new ids (without the stop id), sampled in one batch."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    done = generate_batch(model, prompts, sampling, generator)
    return [done.ids(row) for row in range(len(prompts))]


def prompt_ids(tokenizer: Tokenizer, prompt: str, chat: bool) -> list[int]:
    """Plain text after `<|bos|>`, or with `chat` a user turn in the chat template, ready
    for the assistant's answer."""
    if chat:
        user = [{"role": "user", "content": prompt}]
        return render(tokenizer, user, generation_prompt=True).ids.tolist()
    return [BOS_ID, *tokenizer.encode(prompt, add_special_tokens=False).ids]


def for_generation(model: Transformer) -> Transformer:
    """A loaded (fp32, CPU) model on the GPU in bf16 where there is one."""
    if torch.cuda.is_available():
        return model.to("cuda").cast(torch.bfloat16)
    return model


def generate(
    model: Transformer,
    tokenizer: Tokenizer,
    prompts: list[str],
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    chat: bool = False,
) -> list[str]:
    """Each prompt's continuation (without the prompt), stopping at `<|eos|>` (and, for a
    chat, at the answer's `<|end|>`); the prompts are sampled together, in one batch."""
    ids = [prompt_ids(tokenizer, prompt, chat) for prompt in prompts]
    stop = (EOS_ID, END_ID) if chat else (EOS_ID,)
    sampling = Sampling(max_new_tokens, temperature, top_p, stop)
    return [tokenizer.decode(new) for new in sample_ids(model, ids, sampling, seed)]


def load_tokenizer(checkpoint: str | Location) -> Tokenizer:
    return Tokenizer.from_str((location(checkpoint) / "tokenizer.json").read_text(encoding="utf-8"))
