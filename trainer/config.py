"""The training config: `data`, `model`, `train`, `parallel`, `checkpoint`, `output`.

Typed like the pipeline's job config (unknown keys are errors that name the key); YAML and
`--set` overrides are applied by the CLI before validation, so this module needs neither
Ray nor the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trainer.model import PRESETS, ModelArgs, preset


class TrainConfigError(ValueError):
    """A training config that cannot run; the message names the offending key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunInput(Strict):
    path: str = Field(min_length=1)
    """A pipeline run's output folder (OUT): its tokens/ and tokenizer/ are read."""
    weight: float = Field(default=1.0, gt=0)


class DataConfig(Strict):
    runs: list[RunInput] = Field(min_length=1)
    seq_len: int = Field(default=256, gt=1)
    val_tokens: int = Field(default=65_536, gt=0)
    """Validation tokens per source (at most)."""
    prefetch: int = Field(default=4, ge=1)
    """Batches prepared ahead by the loader's background thread."""
    verify_checksums: bool = True


class ModelConfig(Strict):
    preset: Literal[tuple(PRESETS)] = "tiny"  # type: ignore[valid-type]
    vocab_size: int | None = Field(default=None, gt=0)
    """Default: the tokenizer's vocabulary size."""
    dim: int | None = Field(default=None, gt=0)
    n_layers: int | None = Field(default=None, gt=0)
    n_heads: int | None = Field(default=None, gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0)
    ffn_dim: int | None = Field(default=None, ge=0)
    rope_base: float | None = Field(default=None, gt=0)
    norm_eps: float | None = Field(default=None, gt=0)
    qk_norm: bool | None = None
    tied_embeddings: bool | None = None
    max_seq_len: int | None = Field(default=None, gt=0)

    def args(self, vocab_size: int) -> ModelArgs:
        chosen = self.model_dump(exclude={"preset"}, exclude_none=True)
        chosen.setdefault("vocab_size", vocab_size)
        try:
            return preset(self.preset, **chosen)
        except ValueError as err:
            raise TrainConfigError(str(err)) from None


class TrainSection(Strict):
    steps: int = Field(gt=0)
    global_batch_tokens: int = Field(gt=0)
    """Tokens per optimizer step over all ranks; reached by gradient accumulation."""
    micro_batch_size: int = Field(default=8, gt=0)
    """Sequences per forward pass per rank."""
    lr: float = Field(default=3e-3, gt=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    """The floor of the decay, as a fraction of `lr`."""
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_steps: int = Field(default=0, ge=0)
    decay_fraction: float = Field(default=0.2, gt=0, le=1)
    """`wsd` only: the share of steps spent in the final linear decay."""
    weight_decay: float = Field(default=0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = Field(default=1.0, gt=0)
    z_loss: float = Field(default=0.0, ge=0)
    seed: int = 0
    log_every: int = Field(default=10, gt=0)
    val_every: int = Field(default=0, ge=0)
    """Validate every N steps (0: only at the end)."""
    peak_flops: float = Field(default=989e12, gt=0)
    """Device peak FLOP/s for MFU; default H100 bf16 dense."""


class ParallelConfig(Strict):
    param_dtype: Literal["float32", "bfloat16"] = "bfloat16"
    """Compute dtype: FSDP2's MixedPrecisionPolicy param dtype, or autocast in one process."""
    reduce_dtype: Literal["float32", "bfloat16"] = "float32"
    activation_checkpointing: bool = False
    compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(default=None, gt=0)
    """Intra-op threads per process on CPU (default: torch's choice); 1 on a busy machine."""


class CheckpointConfig(Strict):
    every: int = Field(default=0, ge=0)
    """Save every N steps (0: only at the end)."""
    keep: int = Field(default=3, gt=0)


class TrainConfig(Strict):
    name: str = Field(default="train", min_length=1)
    output: str = Field(min_length=1)
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainSection
    parallel: ParallelConfig = ParallelConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @model_validator(mode="after")
    def _batch_divides(self) -> TrainConfig:
        if self.train.global_batch_tokens % self.data.seq_len:
            raise ValueError("train.global_batch_tokens must be a multiple of data.seq_len")
        return self

    def sequences_per_step(self) -> int:
        return self.train.global_batch_tokens // self.data.seq_len

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-batches per rank per step; the global batch must split evenly."""
        per_rank, rest = divmod(self.sequences_per_step(), world_size)
        steps, remainder = divmod(per_rank, self.train.micro_batch_size)
        if rest or remainder or not steps:
            raise TrainConfigError(
                f"train.global_batch_tokens {self.train.global_batch_tokens} = "
                f"{self.sequences_per_step()} sequences of {self.data.seq_len} does not split into "
                f"{world_size} ranks × micro_batch_size {self.train.micro_batch_size}"
            )
        return steps


def validate_train_config(data: dict[str, Any], origin: str = "<config>") -> TrainConfig:
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for problem in err.errors():
            key = ".".join(str(part) for part in problem["loc"])
            lines.append(f"{key}: {problem['msg'].removeprefix('Value error, ')}")
        raise TrainConfigError(f"{origin}: " + "\n".join(lines)) from None


def read_train_config(path: str | Path) -> TrainConfig:
    """A resolved config file (e.g. RUN/config.yaml) without overrides."""
    return validate_train_config(yaml.safe_load(Path(path).read_text()) or {}, origin=str(path))
