"""LoRA (Hu et al. 2021): low-rank adapters on chosen linear layers, the rest frozen.

A target layer computes W·x + (α/r)·B·A·dropout(x), with W frozen, A (r × in) random and B
(out × r) zero, so training starts from the base model exactly. Checkpoints hold only what
trains (`Checkpointer` leaves frozen parameters out); `merge` folds B·A·α/r into W for
export and generation. The layer keeps its name and its `weight`, so base weights load into
it unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import LoraConfig, TrainConfigError
from trainer.model import shard_of


class LoraLinear(nn.Linear):
    def __init__(self, base: nn.Linear, config: LoraConfig) -> None:
        device = base.weight.device
        super().__init__(base.in_features, base.out_features, bias=False, device=device)
        self.weight = base.weight
        self.scale = config.alpha / config.rank
        self.dropout = nn.Dropout(config.dropout)
        self.lora_a = nn.Parameter(torch.empty(config.rank, base.in_features, device=device))
        self.lora_b = nn.Parameter(torch.empty(base.out_features, config.rank, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adapter = F.linear(F.linear(self.dropout(x), self.lora_a), self.lora_b)
        return F.linear(x, self.weight) + self.scale * adapter


def add_adapters(model: nn.Module, config: LoraConfig) -> nn.Module:
    """Replace each target linear layer by a `LoraLinear` and freeze everything else but the
    adapters (and a reward model's score head, which must train). In place; returns `model`."""
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in config.targets and isinstance(module, nn.Linear)
    ]
    for name, module in targets:
        if config.rank > min(module.in_features, module.out_features):
            raise TrainConfigError(
                f"lora.rank: {config.rank} is more than {name} can have ({module.out_features}"
                f" × {module.in_features}: at most {min(module.in_features, module.out_features)})"
                "; an adapter adds no rank beyond its layer's"
            )
    for name, module in targets:
        parent, _, child = name.rpartition(".")
        model.get_submodule(parent).register_module(child, LoraLinear(module, config))
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name or name.startswith("score.")
    return model


@torch.no_grad()
def reset_adapters(model: nn.Module, seed: int) -> None:
    """A ~ N(0, 1/r), B = 0 (the product starts at zero), the same however the model is sharded."""
    for index, module in enumerate(m for m in model.modules() if isinstance(m, LoraLinear)):
        a, b = module.lora_a, module.lora_b
        generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
        full = torch.randn(a.shape, generator=generator) / a.shape[0] ** 0.5
        _local(a).copy_(shard_of(full.to(_local(a).device), a))
        _local(b).zero_()


def _local(param: torch.Tensor) -> torch.Tensor:
    return param.to_local() if hasattr(param, "to_local") else param


@torch.no_grad()
def merge(model: nn.Module) -> nn.Module:
    """Fold every adapter into its layer: a plain `nn.Linear` with W + B·A·α/r. In place."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLinear):
            merged = nn.Linear(module.in_features, module.out_features, bias=False)
            merged.weight.copy_(module.weight + module.scale * module.lora_b @ module.lora_a)
            parent, _, child = name.rpartition(".")
            model.get_submodule(parent).register_module(child, merged)
    return model
