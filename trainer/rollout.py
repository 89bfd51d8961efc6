"""GRPO's rollouts, between sampling and the objective: group-normalised advantages, the rows
a step trains on, and the frozen reference model whose log-probs the KL term needs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from trainer.chat_data import Rows
from trainer.generate import Completions
from trainer.loss import token_logprobs
from trainer.model import Transformer
from trainer.model_args import ModelArgs

ADVANTAGE_EPS = 1e-4
"""Keeps a group whose rewards are all alike at advantage 0 (DeepSeekMath's (r − mean)/std)."""


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """(r − mean of its group) / (std of its group + eps), the groups consecutive."""
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(1, keepdim=True)
    return (centred / (groups.std(1, keepdim=True) + ADVANTAGE_EPS)).flatten()


def completion_rows(prompts: list[list[int]], done: Completions) -> Rows:
    """One row per completion: its prompt then its ids, right-padded to the longest. Targets
    weigh 1 on the completion's ids (a stop id included: the model learns to stop), where
    `old_logprobs` holds the log-probs they were sampled with."""
    lengths = done.lengths.tolist()
    tokens, logprobs = done.tokens.cpu().numpy(), done.logprobs.float().cpu().numpy()
    width = max(len(p) + n for p, n in zip(prompts, lengths, strict=True)) - 1
    shape = (len(prompts), width)
    inputs, targets = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    weights, old = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for row, (prompt, length) in enumerate(zip(prompts, lengths, strict=True)):
        sequence = np.concatenate([prompt, tokens[row, :length]])
        inputs[row, : len(sequence) - 1] = sequence[:-1]
        targets[row, : len(sequence) - 1] = sequence[1:]
        start = len(prompt) - 1
        weights[row, start : start + length] = 1
        old[row, start : start + length] = logprobs[row, :length]
    arrays = {"inputs": inputs, "targets": targets, "weights": weights, "old_logprobs": old}
    return Rows(arrays)


def frozen_copy(model: nn.Module, args: ModelArgs, device, dtype) -> Transformer:
    """The model's present weights (adapters left out: they start at zero) in a plain
    `Transformer` on `device` in `dtype`, frozen: GRPO's reference, the starting model.
    A whole copy on each rank, gathered from FSDP's shards (every rank must call this)."""
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    with torch.device(device):
        reference = Transformer(args)
    reference.load_state_dict({k: v for k, v in state.items() if "lora_" not in k})
    return reference.cast(dtype).eval().requires_grad_(False)


@torch.no_grad()
def reference_logprobs(
    reference: Transformer, batches: list[dict[str, torch.Tensor]], device
) -> np.ndarray:
    """log π_ref of every target of the rows (in micro-batches), (rows, width)."""
    parts = []
    for batch in batches:
        inputs, targets = batch["inputs"].to(device), batch["targets"].to(device)
        hidden = reference(inputs)
        logps = token_logprobs(hidden.flatten(0, 1), reference.lm_head.weight, targets.flatten())
        parts.append(logps.view_as(targets).cpu().numpy())
    return np.concatenate(parts)
