"""Training objectives: what a step computes from a batch, over the same model and loop.

An objective is one method, `loss(model, batch) -> (loss, tokens, metrics)`: the scalar to
back-propagate (the mean over this micro-batch; the loop divides by the number of
micro-batches), how many tokens it was computed over, and any extra tensors to log.
Pre-training is the first; SFT, reward models, DPO and GRPO are others over the same model,
`trainer.loss`'s functions and `Trainer`.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from trainer.loss import linear_cross_entropy


class Objective(Protocol):
    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, int, dict[str, torch.Tensor]]: ...


class Pretraining:
    """Next-token cross-entropy over every position (+ PaLM's z-loss when set)."""

    def __init__(self, z_loss: float = 0.0) -> None:
        self.z_loss = z_loss

    def loss(self, model, batch):
        hidden = model(batch["inputs"])
        targets = batch["targets"]
        loss = linear_cross_entropy(
            hidden.flatten(0, 1), model.lm_head.weight, targets.flatten(), self.z_loss
        )
        return loss, targets.numel(), {}
