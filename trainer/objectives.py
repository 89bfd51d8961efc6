"""Training objectives: what a step computes from a batch, over the same model and loop.

An objective is one method, `loss(model, batch) -> (loss, count, metrics)`: the loss summed
over this micro-batch's units (tokens for language modelling, pairs for preferences), how
many units that is, and metrics summed over the same units. The loop divides every sum by
the global batch's unit count (all micro-batches, all ranks), so a masked or ragged batch
weighs each unit alike: SFT's loss is the sum over assistant tokens divided by the step's
count of them, not a mean of micro-batch means.

Pre-training, SFT, Bradley-Terry reward modelling, DPO/IPO and GRPO are here; they share the model,
`trainer.loss`'s functions and `Trainer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from trainer.loss import linear_cross_entropy, token_logprobs

Metrics = dict[str, torch.Tensor]


class Objective(Protocol):
    def loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, Metrics]: ...


class Pretraining:
    """Next-token cross-entropy over every position (+ PaLM's z-loss when set)."""

    def __init__(self, z_loss: float = 0.0) -> None:
        self.z_loss = z_loss

    def loss(self, model, batch):
        hidden = model(batch["inputs"])
        targets = batch["targets"]
        mean = linear_cross_entropy(
            hidden.flatten(0, 1), model.lm_head.weight, targets.flatten(), self.z_loss
        )
        count = torch.tensor(float(targets.numel()), device=mean.device)
        return mean * count, count, {}


class SFT:
    """Cross-entropy on the trained targets only (assistant turns), packed examples attending
    only within themselves. Only the trained rows are projected to the vocabulary."""

    def loss(self, model, batch):
        hidden = model(batch["inputs"], documents=batch["documents"])
        trained = batch["weights"].flatten() > 0
        count = trained.sum().float()
        mean = linear_cross_entropy(
            hidden.flatten(0, 1)[trained], model.lm_head.weight, batch["targets"].flatten()[trained]
        )
        return mean * count, count, {}


def sequence_logprobs(
    model: nn.Module, batch: dict[str, torch.Tensor], mean: bool = False
) -> torch.Tensor:
    """Per sequence, the summed (or with `mean`, averaged) log-probability of its trained
    targets; `batch` arrays are (pairs, 2, seq_len), the result (pairs, 2)."""
    inputs, weights = batch["inputs"].flatten(0, 1), batch["weights"].flatten(0, 1)
    hidden = model(inputs)
    logps = token_logprobs(
        hidden.flatten(0, 1), model.lm_head.weight, batch["targets"].flatten()
    ).view_as(weights)
    total = (logps * weights).sum(-1)
    if mean:
        total = total / weights.sum(-1).clamp(min=1)
    return total.view(batch["inputs"].shape[:2])


def _pair_metrics(margin: torch.Tensor) -> Metrics:
    return {"accuracy": (margin > 0).float().sum(), "margin": margin.detach().sum()}


@dataclass(frozen=True)
class DPO:
    """Direct preference optimisation against reference log-probs stored in the batch
    (`reference`, (pairs, 2), computed once from the starting model).

    h = (log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r)); loss −log σ(β·h), or with
    `loss_type: ipo` IPO's (h − 1/(2β))². `length_normalize` averages log-probs over tokens."""

    beta: float = 0.1
    loss_type: Literal["sigmoid", "ipo"] = "sigmoid"
    length_normalize: bool = False

    def loss(self, model, batch):
        logps = sequence_logprobs(model, batch, self.length_normalize)
        rewards = self.beta * (logps - batch["reference"])
        chosen, rejected = rewards[:, 0], rewards[:, 1]
        h = (chosen - rejected) / self.beta
        if self.loss_type == "ipo":
            losses = (h - 1 / (2 * self.beta)).pow(2)
        else:
            losses = -F.logsigmoid(self.beta * h)
        metrics = _pair_metrics(chosen - rejected)
        metrics |= {
            "chosen_reward": chosen.detach().sum(),
            "rejected_reward": rejected.detach().sum(),
        }
        return losses.sum(), torch.tensor(float(len(losses)), device=losses.device), metrics


class Reward:
    """Bradley-Terry: a scalar score read at each answer's closing `<|end|>` (its last
    non-pad token, where a Hugging Face sequence classifier reads too), loss
    −log σ(score(chosen) − score(rejected))."""

    def loss(self, model, batch):
        scores = reward_scores(model, batch)
        margin = scores[:, 0] - scores[:, 1]
        count = torch.tensor(float(len(margin)), device=margin.device)
        return -F.logsigmoid(margin).sum(), count, _pair_metrics(margin)


def reward_scores(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The score head at each whole sequence's `<|end|>`, the target at `last`: (pairs, 2)."""
    inputs, targets = batch["inputs"].flatten(0, 1), batch["targets"].flatten(0, 1)
    hidden = model(torch.cat([inputs[:, :1], targets], dim=1))
    rows = torch.arange(len(inputs), device=inputs.device)
    last = hidden[rows, batch["last"].flatten() + 1]
    return model.score(last).squeeze(-1).float().view(batch["inputs"].shape[:2])


@dataclass(frozen=True)
class GRPO:
    """Group relative policy optimisation (Shao et al. 2024, DeepSeekMath, eq. 3) on sampled
    completions: per completion token t with advantage A (the completion's reward normalised
    within its prompt's group), ratio ρ = π(t) / π_old(t) against the log-probs the sampling
    policy gave (`old_logprobs`), and the k3 estimate of KL to the reference (Schulman 2020),
    d = log π_ref(t) − log π(t), k3 = exp(d) − d − 1:

        loss(t) = −min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A) + β·k3

    summed over completion tokens (`weights`) and divided, like SFT's, by the step's count of
    them (DAPO's token-level normalisation, Yu et al. 2025). Logs `kl` (k3) and
    `clip_fraction`: the tokens whose ratio the clip held (no gradient through ρ)."""

    clip: float = 0.2
    beta: float = 0.04

    def loss(self, model, batch):
        weights = batch["weights"]
        hidden = model(batch["inputs"])
        logps = token_logprobs(
            hidden.flatten(0, 1), model.lm_head.weight, batch["targets"].flatten()
        ).view_as(weights)
        advantages = batch["advantages"][:, None]
        # Differences are zeroed off the completions before exp: padding must not overflow.
        ratio = torch.exp((logps - batch["old_logprobs"]) * weights)
        clipped = ratio.clamp(1 - self.clip, 1 + self.clip)
        surrogate = torch.minimum(ratio * advantages, clipped * advantages)
        delta = (batch["ref_logprobs"] - logps) * weights
        kl = torch.exp(delta) - delta - 1
        per_token = -surrogate + self.beta * kl
        held = ((ratio < 1 - self.clip) & (advantages < 0)) | (
            (ratio > 1 + self.clip) & (advantages > 0)
        )
        metrics = {
            "kl": (kl.detach() * weights).sum(),
            "clip_fraction": (held.float() * weights).sum(),
        }
        return (per_token * weights).sum(), weights.sum(), metrics
