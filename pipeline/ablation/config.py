"""An ablation's config: the pipeline config, its variants, the training config and the
held-out text; and each variant's pipeline and training configs, derived from them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pipeline.config import InputSpec, JobConfig, validate_config
from pipeline.config_kind import refuse_another_kind
from pipeline.inputs import input_files
from pipeline.launch import train_config, training_paths, with_absolute_paths
from pipeline.output import RunOutput, forbidden_folder
from pipeline.schema import (
    AbsolutePath,
    ConfigError,
    PathCheck,
    StrictModel,
    absolute,
    admitted,
    assignments,
    format_validation_error,
    read_config,
    regular_file,
    with_overrides,
)
from trainer.config import PosttrainConfig, TrainConfig, TrainConfigError, validate_train_config


def file_or_mapping(value: Any, info: ValidationInfo) -> str | dict[str, Any]:
    """A config the ablation names: a file, checked as any config file is (made absolute,
    admitted by the path check, a regular file), or the config itself as a mapping."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a config file's path, or the config itself as a mapping")
    return regular_file(admitted(absolute(value), info))


ConfigSource = Annotated[str | dict[str, Any], PlainValidator(file_or_mapping)]
"""A config file, or the config inline (what `submit` sends)."""
VariantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)]
MARKER = "ablation.yaml"
"""The resolved ablation config, written first: what makes a folder an ablation's."""
COMPARISON = ("report", "comparison.json")
"""What the ablation found, in its folder (`compare`'s JSON)."""
SHARED_KEYS = {
    "output": "the ablation gives each variant's run its folder",
    "name": "the ablation names each variant's run",
    "tokenizer": "every variant encodes with the baseline's tokenizer (set it in the pipeline config)",
}
"""Pipeline keys a variant may not set, and why."""
SET_PER_RUN = ("output", "data.runs.", "checkpoint.folder")
"""The training config's paths that the ablation sets for each of its runs."""


class Variant(StrictModel):
    """One version of the pipeline config; `{}` is the config as it is."""

    set: dict[str, Any] = Field(default_factory=dict)
    """Pipeline config values by dotted key, as `--set` takes them (stages by name):
    `{stages.dedup.minhash.threshold: 0.7}`."""
    without: list[str] = Field(default_factory=list)
    """Stages of the pipeline config this variant leaves out: `[quality]`."""


class AblationConfig(StrictModel):
    """Variants of one pipeline config, each trained into the same model and scored on the
    same held-out text."""

    name: str = Field(min_length=1)
    """The ablation's name, shown in its comparison."""
    output: AbsolutePath = Field(min_length=1)
    """A local folder: each variant's pipeline and training runs, and report/comparison.json."""
    pipeline: ConfigSource
    """The pipeline config the variants change, a file (or the config itself, as `submit`
    sends it); it needs a `mixture:` (token shards)."""
    training: ConfigSource
    """The pre-training config every variant trains, a file (or the config itself);
    `data.runs`, `output`, `train.seed` and `checkpoint.folder` are set for each run."""
    training_set: dict[str, Any] = Field(default_factory=dict)
    """Training config values by dotted key, for every run: `{train.steps: 200}`."""
    variants: dict[VariantName, Variant]
    """By name, the first the baseline the others are compared with."""
    eval: list[InputSpec] = Field(min_length=1)
    """Held-out text every model is scored on, by source (jsonl, parquet, text or wet
    inputs); keep it out of the pipeline's inputs."""
    contamination_ngram: int = Field(default=13, ge=3)
    """Words in sequence a held-out document must share with a training document to count as
    trained on (GPT-3's decontamination measure, as the `decontaminate` stage's `ngram`)."""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    """Training seeds: each variant is trained once per seed, and the spread of the seeds'
    results shows how large a difference is noise."""
    max_concurrent_trainings: int | None = Field(default=None, ge=1)
    """On a cluster (`--address`), how many training runs go at once (default: as many as
    its GPUs hold, or its CPUs where it has none, at one per rank). On this machine alone
    they go one after another, each with all its cores."""

    @field_validator("eval")
    @classmethod
    def _text_only(cls, specs: list[InputSpec]) -> list[InputSpec]:
        for spec in specs:
            if spec.format == "warc":
                raise ValueError(
                    f"source {spec.source}: WARC pages need extraction; give held-out text "
                    "(jsonl, parquet, text or wet)"
                )
        return specs

    @field_validator("variants")
    @classmethod
    def _two_or_more(cls, variants: dict[str, Variant]) -> dict[str, Variant]:
        if len(variants) < 2:
            raise ValueError(
                "give two or more: the first is the baseline the others are compared with"
            )
        return variants

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("a seed is listed twice")
        return seeds

    @property
    def baseline(self) -> str:
        return next(iter(self.variants))

    def run_folder(self, variant: str) -> str:
        return str(Path(self.output, variant, "run"))

    def training_folder(self, variant: str, seed: int) -> str:
        return str(Path(self.output, variant, f"seed-{seed}"))


def load_ablation(
    path: str, overrides: list[str] = (), output: str | None = None, nproc: int = 1
) -> AblationConfig:
    """The ablation config at `path`, validated with every variant's pipeline config and
    the training config (for `nproc` ranks), before any of them runs."""
    data = read_config(path, overrides, output)
    refuse_another_kind(data, str(path), "ablate")
    return validate_ablation(data, str(path), nproc)


def validate_ablation(
    data: dict[str, Any], origin: str, nproc: int = 1, path_check: PathCheck | None = None
) -> AblationConfig:
    """`load_ablation` for a config read into a mapping; `path_check` may refuse any path it
    or the configs it names hold (before any of them is looked at)."""
    if "variants" not in data:
        raise ConfigError(f"{origin}: not an ablation config (it has no `variants:`)")
    try:
        ablation = AblationConfig.model_validate(data, context={"path_check": path_check})
    except ValidationError as err:
        problem = format_validation_error(err, model=AblationConfig)
        raise ConfigError(f"{origin}: {problem}") from None
    if problem := forbidden_folder(Path(ablation.output)):
        raise ConfigError(f"output: {ablation.output} {problem}; give the ablation a folder")
    for name in ablation.variants:
        variant_job(ablation, name, path_check=path_check)
    _check_training(ablation, nproc, path_check)
    input_files(ablation.eval, ablation.output, "eval")
    return ablation


def resolved(ablation: AblationConfig) -> dict[str, Any]:
    """The ablation with its pipeline and training configs inline and every path absolute:
    what a Ray Job that runs it elsewhere needs (`submit`)."""
    pipeline, origin = read_named(ablation.pipeline, "pipeline")
    return {
        **ablation.model_dump(mode="json"),
        "pipeline": validate_config(pipeline, origin=origin).to_dict(),
        "training": with_absolute_paths(read_train_settings(ablation)).to_dict(),
        "training_set": {},  # applied above
    }


def shared_tokenizer(baseline: JobConfig) -> str:
    """The tokenizer file every variant encodes with: the pipeline config's, or the one the
    baseline's run trains."""
    given = baseline.tokenizer.path if baseline.tokenizer else None
    return given or RunOutput(baseline.output).path("tokenizer", "tokenizer.json")


def read_named(
    source: str | dict[str, Any], key: str, overrides: list[str] = (), output: str | None = None
) -> tuple[dict[str, Any], str]:
    """A config the ablation names, a file or inline at `key`, with `--set` `overrides` and
    `output` applied; and what to call it in a message."""
    if isinstance(source, str):
        return read_config(source, overrides, output), source
    return with_overrides(copy.deepcopy(source), overrides, output), key


def origin_of(source: str | dict[str, Any], key: str) -> str:
    """What a message calls a config the ablation names: its file, or its key if inline."""
    return source if isinstance(source, str) else key


def variant_job(
    ablation: AblationConfig,
    name: str,
    tokenizer: str | None = None,
    path_check: PathCheck | None = None,
) -> JobConfig:
    """Variant `name`'s pipeline config, writing to its run folder, with the shared
    `tokenizer` file where there is one to share yet."""
    variant = ablation.variants[name]
    key = f"variants.{name}"
    for dotted in variant.set:
        if why := SHARED_KEYS.get(dotted.split(".")[0]):
            raise ConfigError(f"{key}.set.{dotted}: {why}")
    try:
        data, origin = read_named(
            ablation.pipeline, "pipeline", assignments(variant.set), ablation.run_folder(name)
        )
    except ConfigError as err:
        raise ConfigError(f"{key}.set: {err}") from None
    data["stages"] = _without(data.get("stages") or [], variant.without, key, origin)
    data["name"] = f"{data.get('name', ablation.name)}-{name}"
    if tokenizer is not None:
        data["tokenizer"] = {"path": tokenizer}
    job = validate_config(data, origin=f"{origin} (variant {name})", path_check=path_check)
    if job.mixture is None:
        raise ConfigError(
            f"pipeline: {origin} has no `mixture:`; an ablation trains on each variant's token "
            "shards"
        )
    return job


def _without(stages: list[Any], names: list[str], key: str, pipeline: str) -> list[Any]:
    present = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in stages]
    for name in names:
        if name not in present:
            raise ConfigError(
                f"{key}.without: {name!r} is not a stage of {pipeline} ({', '.join(map(str, present))})"
            )
    return [entry for entry, name in zip(stages, present, strict=True) if name not in names]


def read_train_settings(ablation: AblationConfig) -> TrainConfig | PosttrainConfig:
    """The training config with `training_set` applied, validated apart from its paths."""
    data, origin = read_named(ablation.training, "training", assignments(ablation.training_set))
    try:
        return validate_train_config(data, origin=origin)
    except TrainConfigError as err:
        raise ConfigError(str(err)) from None


def _check_training(ablation: AblationConfig, nproc: int, path_check: PathCheck | None) -> None:
    """The training config's own errors now, not after the first variant's pipeline run (its
    `data.runs` are checked when they exist)."""
    config = read_train_settings(ablation)
    origin = origin_of(ablation.training, "training")
    if isinstance(config, PosttrainConfig):
        raise ConfigError(f"training: {origin} is a post-training config; an ablation pre-trains")
    if not config.checkpoint.enabled:
        raise ConfigError(
            f"training: {origin}: checkpoint.enabled is false; the ablation scores each run's "
            "final checkpoint"
        )
    try:
        config.accumulation_steps(nproc)
    except TrainConfigError as err:
        raise ConfigError(f"training: {origin}: {err}") from None
    refused = [
        f"training: {key}: {problem}"
        for key, path in training_paths(with_absolute_paths(config))
        if not key.startswith(SET_PER_RUN)
        and path_check is not None
        and (problem := path_check(path)) is not None
    ]
    if refused:
        raise ConfigError("\n".join(refused))


def variant_training(ablation: AblationConfig, name: str, seed: int, nproc: int) -> TrainConfig:
    """The training config of variant `name`'s run with `seed`, for `nproc` ranks."""
    runs = [{"path": ablation.run_folder(name), "weight": 1.0}]
    per_run = {"data.runs": runs, "train.seed": seed, "checkpoint.folder": None}
    overrides = assignments({**ablation.training_set, **per_run})
    data, origin = read_named(
        ablation.training, "training", overrides, ablation.training_folder(name, seed)
    )
    return train_config(data, origin, nproc)
