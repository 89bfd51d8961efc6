"""The model's shape: its dimensions (`ModelArgs`) and the named presets, without torch, so
a config can be checked where torch is not loaded (the CLI, a job's submission)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelArgs:
    vocab_size: int = 8192
    dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 4
    ffn_dim: int = 0
    """SwiGLU hidden size; 0 means 8/3·dim rounded up to a multiple of 64."""
    rope_base: float = 10_000.0
    norm_eps: float = 1e-5
    qk_norm: bool = False
    tied_embeddings: bool = False
    max_seq_len: int = 2048
    num_labels: int = 0
    """Outputs of a `score` head on the hidden states (1 for a reward model); 0: none."""

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"model.dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"model.n_heads {self.n_heads} is not a multiple of n_kv_heads")
        if self.head_dim % 2:
            raise ValueError(
                f"model.dim {self.dim} / n_heads {self.n_heads} makes heads of {self.head_dim}; "
                "rotary embeddings turn pairs of dimensions, so a head's must be even"
            )
        if self.ffn_dim == 0:
            object.__setattr__(self, "ffn_dim", 64 * math.ceil(8 * self.dim / 3 / 64))

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


PRESETS: dict[str, ModelArgs] = {
    "tiny": ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=512),
    "small": ModelArgs(dim=256, n_layers=4, n_heads=4, n_kv_heads=2, max_seq_len=1024),
    "125m": ModelArgs(dim=768, n_layers=12, n_heads=12, n_kv_heads=4),
    "350m": ModelArgs(dim=1024, n_layers=24, n_heads=16, n_kv_heads=8),
    "1b": ModelArgs(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192),
}


def preset(name: str, **overrides) -> ModelArgs:
    if name not in PRESETS:
        raise ValueError(f"model.preset: unknown {name!r} (known: {', '.join(PRESETS)})")
    return dataclasses.replace(PRESETS[name], **overrides)
