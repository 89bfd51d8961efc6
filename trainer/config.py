"""The training config: `data`, `model`, `train`, `parallel`, `checkpoint`, `output`.

Plain frozen dataclasses, as torchtitan's are, and a strict loader (`validate_train_config`)
that refuses unknown keys and bad values with a message naming the key. It needs no
pydantic, Ray or pipeline, so a GPU image with only torch runs the trainer; the CLI applies
YAML and `--set` overrides, then validates through the same loader.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from trainer.model_args import PRESETS, ModelArgs, preset
from trainer.verifiers import resolve_verifier


class TrainConfigError(ValueError):
    """A training config that cannot run; the message names the offending key."""


@dataclass(frozen=True)
class RunInput:
    # A field's metadata holds the bounds the loader checks: gt, ge, le, lt (on each value
    # of a tuple); min_len for strings and lists. Every float must be finite.
    path: str = field(metadata={"min_len": 1})
    """A pipeline run's output folder (OUT) or URL: its tokens/ and tokenizer/ are read."""
    weight: float = field(default=1.0, metadata={"gt": 0})
    """Share of each step's sequences drawn from this run, relative to the others."""


def _each_run_once(key: str, runs: list[RunInput] | None) -> None:
    """A run listed twice would be drawn at the sum of its weights, which no one means."""
    seen: set[str] = set()
    for index, run in enumerate(runs or []):
        path = os.path.normpath(run.path)
        if path in seen:
            raise TrainConfigError(
                f"{key}.{index}.path: {run.path} is listed already; give each run once, with "
                "the weight you mean"
            )
        seen.add(path)


@dataclass(frozen=True)
class ReplayConfig:
    fraction: float = field(metadata={"gt": 0, "lt": 1})
    """Share of each step's sequences drawn from the earlier mixture; `data.runs` share the
    rest by their weights."""
    runs: list[RunInput] | None = None
    """The earlier mixture, by weight; default: the one `init_from`'s checkpoint was trained
    on (its meta.json records it)."""


@dataclass(frozen=True)
class DataConfig:
    """The token shards to train on (pipeline runs' OUT/tokens/) and the sequence length."""

    runs: list[RunInput] = field(metadata={"min_len": 1})
    """The runs to train on, by weight (the new sources, in continued pre-training)."""
    replay: ReplayConfig | None = None
    """Continued pre-training: keep drawing a share of each step from an earlier mixture, so
    that the model does not forget it."""
    seq_len: int = field(default=256, metadata={"gt": 1})
    """Tokens per training sequence (one more is read for the shifted targets)."""
    val_tokens: int = field(default=65_536, metadata={"gt": 0})
    """Validation tokens per source (at most)."""
    prefetch: int = field(default=4, metadata={"ge": 1})
    """Batches prepared ahead by the loader's background thread."""
    verify_checksums: bool = True
    """Check each token shard's sha256 against the run's manifest before training."""


PresetName = Literal[tuple(PRESETS)]  # type: ignore[valid-type]


@dataclass(frozen=True)
class ModelConfig:
    """The model's shape: a preset, with any single dimension overridden."""

    preset: PresetName = "tiny"
    """The model's shape; the keys below override single dimensions of it."""
    vocab_size: int | None = field(default=None, metadata={"gt": 0})
    """Default: the tokenizer's vocabulary size."""
    dim: int | None = field(default=None, metadata={"gt": 0})
    """Hidden size."""
    n_layers: int | None = field(default=None, metadata={"gt": 0})
    """Transformer blocks."""
    n_heads: int | None = field(default=None, metadata={"gt": 0})
    """Attention (query) heads; must divide `dim`."""
    n_kv_heads: int | None = field(default=None, metadata={"gt": 0})
    """Key/value heads (grouped-query attention); must divide `n_heads`."""
    ffn_dim: int | None = field(default=None, metadata={"ge": 0})
    """SwiGLU hidden size; 0: 8/3·dim rounded up to a multiple of 64."""
    rope_base: float | None = field(default=None, metadata={"gt": 1})
    """RoPE's base (theta): the frequencies fall from 1 by powers of it, so it exceeds 1."""
    norm_eps: float | None = field(default=None, metadata={"gt": 0})
    """RMSNorm's epsilon."""
    qk_norm: bool | None = None
    """RMSNorm on each head's queries and keys (Qwen3's); exported as Qwen3."""
    tied_embeddings: bool | None = None
    """The output head shares the input embedding's weights."""
    max_seq_len: int | None = field(default=None, metadata={"gt": 0})
    """Longest sequence the RoPE tables cover; `data.seq_len` may not exceed it (with
    `init_from`, the start's own applies)."""

    def args(self, vocab_size: int) -> ModelArgs:
        chosen = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "preset" and getattr(self, f.name) is not None
        }
        if chosen.setdefault("vocab_size", vocab_size) < vocab_size:
            raise TrainConfigError(
                f"model.vocab_size: {self.vocab_size} is less than the tokenizer's {vocab_size} "
                "token ids; leave it out to take the tokenizer's"
            )
        try:
            return preset(self.preset, **chosen)
        except ValueError as err:
            raise TrainConfigError(str(err)) from None

    @property
    def max_positions(self) -> int:
        return self.max_seq_len or PRESETS[self.preset].max_seq_len


SCHEDULE_KEYS = (
    "steps",
    "epochs",
    "lr",
    "min_lr_ratio",
    "schedule",
    "warmup_steps",
    "decay_fraction",
    "decay_steps",
)
"""The `train` keys that decide the learning rate at each step."""


@dataclass(frozen=True)
class TrainSection:
    """The optimizer (AdamW), its learning-rate schedule and the number of steps."""

    steps: int = field(metadata={"gt": 0})
    """Optimizer steps; the schedule spans them (a resumed run keeps it)."""
    global_batch_tokens: int = field(metadata={"gt": 0})
    """Tokens per optimizer step over all ranks; reached by gradient accumulation."""
    micro_batch_size: int = field(default=8, metadata={"gt": 0})
    """Sequences per forward pass per rank."""
    lr: float = field(default=3e-3, metadata={"gt": 0})
    """Peak learning rate (AdamW)."""
    min_lr_ratio: float = field(default=0.1, metadata={"ge": 0, "le": 1})
    """The floor of the decay, as a fraction of `lr`."""
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    """After warm-up: cosine decay to `min_lr_ratio`, warmup-stable-decay, or constant."""
    warmup_steps: int = field(default=0, metadata={"ge": 0})
    """Steps of linear warm-up from 0 to `lr`."""
    decay_fraction: float = field(default=0.2, metadata={"gt": 0, "le": 1})
    """`wsd` only: the share of steps spent in the final linear decay."""
    decay_steps: int | None = field(default=None, metadata={"gt": 0})
    """`wsd` only: the final decay's length in steps, instead of `decay_fraction` (a decay
    branch from step S with `steps: S + decay_steps` starts decaying at S)."""
    weight_decay: float = field(default=0.1, metadata={"ge": 0})
    """AdamW's decoupled weight decay, on matrices only (not on norms)."""
    betas: tuple[float, float] = field(default=(0.9, 0.95), metadata={"ge": 0, "lt": 1})
    """AdamW's betas."""
    grad_clip: float = field(default=1.0, metadata={"gt": 0})
    """Clip the global gradient norm to this."""
    z_loss: float = field(default=0.0, metadata={"ge": 0})
    """Weight of the z-loss, mean squared log-partition of the logits (PaLM's; it keeps
    large runs' logits from drifting)."""
    seed: int = 0
    """Seeds the initial weights and the data order."""
    log_every: int = field(default=10, metadata={"gt": 0})
    """Log loss, throughput and MFU every N steps (metrics.jsonl, TensorBoard, stderr)."""
    val_every: int = field(default=0, metadata={"ge": 0})
    """Validate every N steps (0: only at the end)."""
    max_skipped_in_a_row: int = field(default=10, metadata={"gt": 0})
    """Steps in a row whose loss or gradient norm is not finite (each one skipped) after which
    the run stops as diverged; weights that are not finite stop it at once. Checked at logged
    steps and before each save; a skipped step is not saved, so the older checkpoints stay."""
    peak_flops: float = field(default=989e12, metadata={"gt": 0})
    """Device peak FLOP/s for MFU; default H100 bf16 dense."""
    deterministic: bool = False
    """Deterministic kernels (cuBLAS, cuDNN, attention's backward), so a resumed run repeats
    an uninterrupted one bit for bit on a GPU too; it costs speed (13-14 % on an H200 with the
    350m preset: benchmarks/RESULTS.md).
    On a CPU runs are deterministic without it."""

    @property
    def total_tokens(self) -> int:
        """Tokens the run trains on: steps × the global batch."""
        return self.steps * self.global_batch_tokens

    def schedule_settings(self) -> dict[str, Any]:
        """What decides the learning rate at each step, which a resumed run keeps."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in SCHEDULE_KEYS
        }


@dataclass(frozen=True)
class ParallelConfig:
    """Precision, memory and speed: FSDP2's mixed precision, activation checkpointing,
    compile, and the device."""

    param_dtype: Literal["float32", "bfloat16"] = "bfloat16"
    """Compute dtype: FSDP2's MixedPrecisionPolicy param dtype, or autocast in one process."""
    reduce_dtype: Literal["float32", "bfloat16"] = "float32"
    """Gradient reduction dtype across ranks."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass: less memory, about a third more compute."""
    compile: bool = False
    """`torch.compile` each block (fullgraph): faster steps after a compile of about 30 s."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA where available, else CPU."""
    cpu_threads: int | None = field(default=None, metadata={"gt": 0})
    """Intra-op threads per process on CPU (default: torch's choice); 1 on a busy machine."""


@dataclass(frozen=True)
class CheckpointConfig:
    """Saves a run resumes from (torch distributed checkpoint), how often and how many."""

    enabled: bool = True
    """false: save nothing (benchmarks, smoke tests)."""
    every: int = field(default=0, metadata={"ge": 0})
    """Save every N steps (0: only at the end)."""
    keep: int = field(default=3, metadata={"gt": 0})
    """Complete checkpoints kept; older ones are removed."""
    folder: str | None = field(default=None, metadata={"min_len": 1})
    """Where checkpoints go: a local folder or any fsspec URL (s3://bucket/run/checkpoints);
    default OUTPUT/checkpoints."""


@dataclass(frozen=True)
class TrainConfig:
    output: str = field(metadata={"min_len": 1})
    """The run's folder: config.yaml, metrics.jsonl, tb/, checkpoints/ (a local path)."""
    data: DataConfig
    train: TrainSection
    name: str = field(default="train", metadata={"min_len": 1})
    """The run's name."""
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    init_from: str | None = field(default=None, metadata={"min_len": 1})
    """Continued pre-training: start from this model (a tokenmill checkpoint or a Hugging Face
    Llama/Qwen3 folder; weights only, so the optimizer, data and learning rate start afresh:
    `train.warmup_steps` re-warms it); `model` is then the start's shape. Its tokenizer must be
    the one the runs were tokenized with."""
    branch_from: str | None = field(default=None, metadata={"min_len": 1})
    """Branch another run at one of its checkpoints (weights, optimizer, data position and
    step), e.g. a WSD decay from a checkpoint of the stable phase. The schedule may differ
    from the checkpoint's but must give the same learning rate up to its step. The branch
    resumes from its own checkpoints once it has some."""

    def check(self) -> None:
        """Rules across sections; raises TrainConfigError naming the key."""
        if "://" in self.output:  # pathlib made s3://b/run a local folder named s3:
            raise TrainConfigError(
                f"output: {self.output} is not a local folder, which a training run's is "
                "(config.yaml, metrics.jsonl, tb/); checkpoint.folder may be in object storage"
            )
        if (self.checkpoint.folder or "").startswith(("http://", "https://")):
            raise TrainConfigError(
                f"checkpoint.folder: {self.checkpoint.folder} is a web address, where nothing "
                "is written (object storage is: s3://, gs://)"
            )
        if self.init_from and self.branch_from:
            raise TrainConfigError(
                "branch_from: a branch continues its checkpoint's model; drop init_from"
            )
        replay = self.data.replay if isinstance(self.data, DataConfig) else None
        if replay and replay.runs is None and self.init_from is None:
            raise TrainConfigError("data.replay.runs: required without init_from")
        if isinstance(self.data, DataConfig):
            _each_run_once("data.runs", self.data.runs)
            _each_run_once("data.replay.runs", replay.runs if replay else None)
        if self.init_from is None and self.data.seq_len > self.model.max_positions:
            raise TrainConfigError(
                f"data.seq_len: {self.data.seq_len} is more than the model's max_seq_len "
                f"{self.model.max_positions} (model.max_seq_len raises it)"
            )
        if self.train.decay_steps and self.train.decay_steps > self.train.steps > 0:
            raise TrainConfigError(
                f"train.decay_steps: {self.train.decay_steps} is more than train.steps "
                f"{self.train.steps}"
            )
        if self.train.global_batch_tokens % self.data.seq_len:
            raise TrainConfigError("train.global_batch_tokens: must be a multiple of data.seq_len")

    def checkpoint_folder(self) -> str:
        return self.checkpoint.folder or str(Path(self.output) / "checkpoints")

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

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready values (tuples as lists): what RUN/config.yaml holds."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    return value


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _convert(kind: Any, value: Any, key: str) -> Any:
    """`value` as `kind` (the field's annotation), or TrainConfigError naming `key`."""
    origin, params = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in params:
            return None
        (inner,) = [p for p in params if p is not type(None)]
        return _convert(inner, value, key)
    if origin is Literal:
        if value not in params:
            raise TrainConfigError(
                f"{key}: {value!r} is not one of {', '.join(repr(p) for p in params)}"
            )
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(params):
            raise TrainConfigError(f"{key}: expected a list of {len(params)} values")
        return tuple(
            _convert(p, v, f"{key}.{i}") for i, (p, v) in enumerate(zip(params, value, strict=True))
        )
    if origin is list:
        if not isinstance(value, list | tuple):
            raise TrainConfigError(f"{key}: expected a list")
        return [_convert(params[0], v, f"{key}.{i}") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(kind):
        return _load(kind, value, key)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        value = _yaml_exponent(value)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):  # `.inf` or "nan": no setting means either
            raise TrainConfigError(f"{key}: must be a finite number, got {value!r}")
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise TrainConfigError(f"{key}: expected {_type_name(kind)}, got {value!r}")
    return value


def _yaml_exponent(value: Any) -> Any:
    """YAML 1.1 reads `1e-5` (no dot in the mantissa) as a string; take it as the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _check_limits(key: str, value: Any, limits: dict) -> None:
    if value is None:
        return
    if isinstance(value, tuple):  # limits on each value (AdamW's betas)
        for index, item in enumerate(value):
            _check_limits(f"{key}.{index}", item, limits)
        return
    if "gt" in limits and not value > limits["gt"]:
        raise TrainConfigError(f"{key}: must be greater than {limits['gt']}, got {value!r}")
    if "ge" in limits and not value >= limits["ge"]:
        raise TrainConfigError(f"{key}: must be at least {limits['ge']}, got {value!r}")
    if "le" in limits and not value <= limits["le"]:
        raise TrainConfigError(f"{key}: must be at most {limits['le']}, got {value!r}")
    if "lt" in limits and not value < limits["lt"]:
        raise TrainConfigError(f"{key}: must be less than {limits['lt']}, got {value!r}")
    if "min_len" in limits and len(value) < limits["min_len"]:
        raise TrainConfigError(f"{key}: must not be empty")


def _load(cls: type, data: Any, prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from a mapping: every key known, every value checked."""
    where = prefix or "the config"
    if not isinstance(data, dict):
        raise TrainConfigError(f"{where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            name = f"{prefix}.{key}" if prefix else str(key)
            raise TrainConfigError(f"{name}: unknown key (known: {', '.join(fields)})")
    values = {}
    for name, spec in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            required = (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            )
            if required:
                raise TrainConfigError(f"{key}: required")
            continue
        values[name] = _convert(hints[name], data[name], key)
        _check_limits(key, values[name], spec.metadata)
    return cls(**values)


def validate_train_config(data: dict[str, Any], origin: str = "<config>") -> TrainConfig:
    """The config a mapping describes, or TrainConfigError: '<origin>: <key>: <problem>'.
    A mapping with a `kind` (sft, reward, dpo, grpo) is a `PosttrainConfig`."""
    kind = PosttrainConfig if isinstance(data, dict) and "kind" in data else TrainConfig
    try:
        config = _load(kind, data)
        config.check()
        return config
    except TrainConfigError as err:
        raise TrainConfigError(f"{origin}: {err}") from None


def read_train_config(path: str | Path) -> TrainConfig:
    """A resolved config file (e.g. RUN/config.yaml) without overrides."""
    try:
        data = yaml.safe_load(Path(path).read_bytes()) or {}
    except (OSError, yaml.YAMLError) as err:
        problem = err.strerror if isinstance(err, OSError) else " ".join(str(err).split())
        raise TrainConfigError(f"{path}: cannot read it as YAML: {problem}") from None
    return validate_train_config(data, origin=str(path))


# Post-training: the same sections, with chat data, a starting model and the objective's knobs.


@dataclass(frozen=True)
class ChatDataConfig:
    """The examples: conversations (SFT), preference pairs (reward, DPO) or prompts (GRPO)."""

    train: str = field(metadata={"min_len": 1})
    """JSONL (.jsonl, .jsonl.gz), JSON array or Parquet file, local or fsspec URL
    (trainer.chat_data)."""
    val: str | None = field(default=None, metadata={"min_len": 1})
    """Held-out file; default: `val_examples` of `train`'s records, drawn by the seed."""
    val_examples: int = field(default=64, metadata={"ge": 0})
    """Held-out examples: with `val`, its first ones (0: all of them); without, taken out of
    `train` (0: none, and no validation)."""
    max_examples: int | None = field(default=None, metadata={"gt": 0})
    """Use at most this many training examples (smoke runs)."""
    seq_len: int = field(default=512, metadata={"gt": 1})
    """SFT: the packed row's length; preferences: each sequence's (longer ones are cut)."""
    prompt_key: str = "prompt"
    """Record field of the prompt (user turn) when records are not chat `messages`."""
    response_key: str = "response"
    """Record field of the response (assistant turn)."""
    tokenizer: str | None = field(default=None, metadata={"min_len": 1})
    """A tokenizer.json with tokenmill's special ids; default: `init_from`'s."""


@dataclass(frozen=True)
class PosttrainSection(TrainSection):
    """As in pre-training, with fine-tuning's defaults; `steps` may follow from `epochs`."""

    steps: int = field(default=0, metadata={"ge": 0})
    """0: as many as `epochs` passes over the training examples take."""
    global_batch_tokens: int = field(default=8192, metadata={"gt": 0})
    """SFT: packed tokens per step; preferences: pairs per step × seq_len."""
    epochs: float = field(default=1.0, metadata={"gt": 0})
    """Passes over the training examples when `steps` is 0."""
    lr: float = field(default=2e-5, metadata={"gt": 0})
    """Fine-tuning's usual scale; LoRA often takes 1e-4 to 1e-3."""
    warmup_steps: int = field(default=0, metadata={"ge": 0})
    weight_decay: float = field(default=0.0, metadata={"ge": 0})


@dataclass(frozen=True)
class DPOConfig:
    """`kind: dpo` only: how far the policy may move from the reference, and the loss."""

    beta: float = field(default=0.1, metadata={"gt": 0})
    """DPO's β: how far the policy may move from the reference."""
    loss: Literal["sigmoid", "ipo"] = "sigmoid"
    """`sigmoid`: DPO's loss; `ipo`: IPO's squared loss."""
    length_normalize: bool = False
    """Average each answer's log-probabilities over its tokens instead of summing them."""


@dataclass(frozen=True)
class GRPOConfig:
    """`kind: grpo` only: the sampled completions, their verifier and the clipped objective."""

    group_size: int = field(default=8, metadata={"ge": 2})
    """Completions sampled per prompt (G); their rewards are normalised within the group. Must
    divide the completions per step, `train.global_batch_tokens / data.seq_len`."""
    max_new_tokens: int = field(default=256, metadata={"gt": 0})
    """Longest completion; a prompt and its completion must fit in `data.seq_len`."""
    temperature: float = field(default=1.0, metadata={"gt": 0})
    """Sampling temperature of the completions (held-out prompts are answered greedily)."""
    top_p: float = field(default=1.0, metadata={"gt": 0, "le": 1})
    """Nucleus sampling: the smallest set of tokens whose probability reaches it."""
    clip: float = field(default=0.2, metadata={"gt": 0, "lt": 1})
    """ε of the clipped ratio objective: the ratio counts within [1 − ε, 1 + ε]."""
    beta: float = field(default=0.04, metadata={"ge": 0})
    """β, the weight of the KL penalty to the starting model (k3 estimator); 0: none."""
    verifier: str = field(default="gsm8k", metadata={"min_len": 1})
    """What rewards a completion: `gsm8k` (1 when it ends in `#### N` with the record's
    `answer`'s N), or a function `(completion, record) -> float in [0, 1]` by dotted path,
    `package.module:function` (trainer.verifiers); a module in the folder the command runs
    in is found (on Ray Train, the nodes must be able to import it)."""


LoraTarget = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class LoraConfig:
    rank: int = field(default=8, metadata={"gt": 0})
    """Rank r of each adapter's B·A."""
    alpha: float = field(default=16.0, metadata={"gt": 0})
    """Scale: the update is B·A·alpha/r."""
    dropout: float = field(default=0.0, metadata={"ge": 0, "le": 1})
    """Dropout on the adapters' input."""
    targets: list[LoraTarget] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], metadata={"min_len": 1}
    )
    """Linear layers that get adapters: attention's projections, the feed-forward's."""


POSTTRAIN_KINDS = ("sft", "reward", "dpo", "grpo")


@dataclass(frozen=True)
class PosttrainConfig(TrainConfig):
    """`tokenmill sft|reward|dpo|grpo`: `kind` says which; `init_from` a tokenmill checkpoint or a
    Hugging Face Llama/Qwen3 folder (model weights only: no optimizer or loader state)."""

    data: ChatDataConfig
    train: PosttrainSection
    kind: Literal[POSTTRAIN_KINDS] = "sft"  # type: ignore[valid-type]
    """`sft` (loss on the assistant's tokens), `reward` (Bradley-Terry on preference pairs),
    `dpo`, or `grpo` (sampled completions rewarded by a verifier)."""
    init_from: str | None = field(default=None, metadata={"min_len": 1})
    """Default: a fresh model of `model`'s shape (tests)."""
    dpo: DPOConfig = field(default_factory=DPOConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    lora: LoraConfig | None = None
    """Train low-rank adapters only; checkpoints hold the adapters, export merges them."""

    def check(self) -> None:
        super().check()
        if self.init_from is None and self.data.tokenizer is None:
            raise TrainConfigError("data.tokenizer: required without init_from")
        if self.lora and self.init_from is None:
            raise TrainConfigError("lora: needs init_from, the base model the adapters train on")
        if self.kind == "grpo":
            self.check_grpo()

    def check_grpo(self) -> None:
        grpo, completions = self.grpo, self.sequences_per_step()
        if completions % grpo.group_size:
            raise TrainConfigError(
                f"grpo.group_size: {grpo.group_size} does not divide the {completions} "
                "completions per step (train.global_batch_tokens / data.seq_len)"
            )
        if grpo.max_new_tokens >= self.data.seq_len:
            raise TrainConfigError(
                f"grpo.max_new_tokens: {grpo.max_new_tokens} leaves no room for a prompt in "
                f"data.seq_len {self.data.seq_len}"
            )
        try:
            resolve_verifier(grpo.verifier)
        except ValueError as err:
            raise TrainConfigError(f"grpo.verifier: {err}") from None
