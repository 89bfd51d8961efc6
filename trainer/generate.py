"""Sampling from a checkpoint with a KV cache: temperature and nucleus (top-p)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from trainer.chat import BOS_ID, END_ID, EOS_ID, render
from trainer.model import KVCache, Transformer
from trainer.storage import Location, location


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    """One token id per row; temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    # Keep the smallest prefix whose mass reaches top_p (the first token always survives).
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p
    sorted_probs = sorted_probs.masked_fill(outside, 0.0)
    choice = torch.multinomial(sorted_probs, 1, generator=generator)
    return order.gather(-1, choice).squeeze(-1)


@torch.no_grad()
def generate_ids(
    model: Transformer,
    ids: list[int],
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    stop: tuple[int, ...] = (EOS_ID,),
) -> list[int]:
    """The ids that follow `ids`, up to (not including) a `stop` id."""
    max_new_tokens = min(max_new_tokens, model.args.max_seq_len - len(ids))
    if max_new_tokens <= 0:
        raise ValueError(
            f"--prompt is {len(ids)} tokens; the model's context is {model.args.max_seq_len}"
        )
    param = next(model.parameters())
    cache = KVCache(model.args, 1, len(ids) + max_new_tokens, param.dtype, param.device)
    generator = torch.Generator(device=param.device).manual_seed(seed)
    logits = model.lm_head(model(torch.tensor([ids], device=param.device), cache)[:, -1])
    new: list[int] = []
    for _ in range(max_new_tokens):
        token = sample_next(logits, temperature, top_p, generator)
        if token.item() in stop:
            break
        new.append(token.item())
        logits = model.lm_head(model(token.view(1, 1), cache)[:, -1])
    return new


def prompt_ids(tokenizer: Tokenizer, prompt: str, chat: bool) -> list[int]:
    """Plain text after `<|bos|>`, or with `chat` a user turn in the chat template, ready
    for the assistant's answer."""
    if chat:
        user = [{"role": "user", "content": prompt}]
        return render(tokenizer, user, generation_prompt=True).ids.tolist()
    return [BOS_ID, *tokenizer.encode(prompt, add_special_tokens=False).ids]


def generate(
    model: Transformer,
    tokenizer: Tokenizer,
    prompt: str,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    chat: bool = False,
) -> str:
    """The prompt's continuation (without the prompt), stopping at `<|eos|>` (and, for a
    chat, at the answer's `<|end|>`)."""
    ids = prompt_ids(tokenizer, prompt, chat)
    stop = (EOS_ID, END_ID) if chat else (EOS_ID,)
    return tokenizer.decode(
        generate_ids(model, ids, max_new_tokens, temperature, top_p, seed, stop)
    )


def load_tokenizer(checkpoint: str | Location) -> Tokenizer:
    return Tokenizer.from_str((location(checkpoint) / "tokenizer.json").read_text())
