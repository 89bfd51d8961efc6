"""AdamW with decoupled weight decay on matrices only, and the learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainer.config import TrainSection


def build_optimizer(model: nn.Module, train: TrainSection) -> torch.optim.AdamW:
    """Decay matrices (projections, embeddings); norms and biases are not decayed."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": train.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=train.lr, betas=train.betas, eps=1e-8, fused=True)


def lr_at(step: int, train: TrainSection) -> float:
    """The learning rate for optimizer step `step` (1-based).

    cosine: linear warmup, then cosine from `lr` to the floor `lr·min_lr_ratio`.
    wsd: warmup, stable at `lr`, then a linear decay to the floor over the last
    `decay_steps` (or `decay_fraction` of the steps) (warmup-stable-decay, as in MiniCPM).
    constant: warmup, then `lr`.
    """
    if step <= train.warmup_steps:
        return train.lr * step / train.warmup_steps
    floor = train.lr * train.min_lr_ratio
    if train.schedule == "constant":
        return train.lr
    if train.schedule == "cosine":
        progress = (step - train.warmup_steps) / max(train.steps - train.warmup_steps, 1)
        return floor + (train.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    decay_steps = train.decay_steps or max(round(train.steps * train.decay_fraction), 1)
    decay_start = train.steps - decay_steps
    if step <= decay_start:
        return train.lr
    return train.lr - (train.lr - floor) * min((step - decay_start) / decay_steps, 1.0)


@torch.no_grad()
def clip_grad_norm(model: nn.Module, max_norm: float, distributed: bool) -> torch.Tensor:
    """Scale the gradients so that their global L2 norm is at most `max_norm`; return that norm.

    torch's `clip_grad_norm_` with the same arithmetic, on each rank's local shards (FSDP2
    shards are disjoint, so the squares add up over ranks): no DTensor dispatch per tensor."""
    grads = [
        p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad
        for p in model.parameters()
        if p.grad is not None
    ]
    local = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if distributed:
        squares = local.pow(2)
        torch.distributed.all_reduce(squares)
        local = squares.sqrt()
    torch._foreach_mul_(grads, torch.clamp(max_norm / (local + 1e-6), max=1.0))
    return local


def first_different_lr(before: TrainSection, after: TrainSection, until: int) -> int | None:
    """The first step up to `until` at which two schedules' learning rates differ, if any."""
    return next(
        (
            step
            for step in range(1, until + 1)
            if not math.isclose(lr_at(step, before), lr_at(step, after), rel_tol=1e-9)
        ),
        None,
    )
