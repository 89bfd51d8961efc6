"""The job config: YAML → typed pydantic models, with `--set key=value` overrides.

Stages are a list of one-key mappings (`- extract: {engine: resiliparse}`); each stage's
parameters are validated by the `Params` model of the stage class registered under that
name, so an unknown stage, an unknown key or a wrong type fails before any work starts
with a message that names the key (`stages.extract.engine: ...`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from fsspec.core import url_to_fs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A job config that cannot run; the message names the offending key."""


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FilePath(str):
    """A config path that names a regular file: a model, a list, a tokenizer."""


def regular_file(path: str) -> FilePath:
    """`path` if it names a regular file (not a folder, device or FIFO, which would be read
    forever or block), made absolute so that Ray workers find it too."""
    if "://" in path:
        fs, stripped = url_to_fs(path)
        if not fs.isfile(stripped):
            raise ValueError(f"file not found: {path}")
        return FilePath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ValueError(f"file not found: {path}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"not a regular file: {path}")
    return FilePath(Path(path).resolve())


RegularFile = Annotated[str, AfterValidator(regular_file)]
"""A config path to a model, list or tokenizer file; see `regular_file`."""


def files_in(section: BaseModel) -> list[FilePath]:
    """The file paths a config section names, however deeply nested."""

    def walk(value: Any) -> Iterator[FilePath]:
        if isinstance(value, FilePath):
            yield value
        elif isinstance(value, dict):
            for inner in value.values():
                yield from walk(inner)
        elif isinstance(value, list | tuple):
            for inner in value:
                yield from walk(inner)

    return sorted(set(walk(section.model_dump())))


class InputSpec(StrictModel):
    source: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    format: Literal["warc", "jsonl", "parquet", "text"]
    paths: list[str] = Field(min_length=1)
    split_on: str | None = None
    """`text` only: a regex whose matches start a new document (e.g. WikiText's ` = Title = `)."""
    max_record_bytes: int = Field(default=10_000_000, gt=0)
    """Records larger than this are counted as errored `too_large` instead of read."""
    manifest_base: str = "https://data.commoncrawl.org/"
    """Prefix for relative entries of a `warc.paths(.gz)` manifest."""

    @field_validator("split_on")
    @classmethod
    def _valid_regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.MULTILINE)
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from err
        return pattern

    @model_validator(mode="after")
    def _split_on_needs_text(self) -> InputSpec:
        if self.split_on is not None and self.format != "text":
            raise ValueError("split_on applies only to format: text")
        return self


class ExecutionConfig(StrictModel):
    workers: int | None = Field(default=None, gt=0)
    """Parallel shard tasks; default: the CPUs Ray sees."""
    batch_size: int = Field(default=512, gt=0)
    """Documents per Arrow batch inside a shard task."""
    object_store_mb: int = Field(default=1024, ge=75)
    """Object store of an embedded local Ray (ignored when joining a cluster)."""
    max_errored_share: float = Field(default=0.5, ge=0.0, le=1.0)
    """A stage that errors on more than this share of the documents it gets fails the run
    (a broken model, a missing dependency), and its shards are redone on the next run."""


class TokenizerTrainConfig(StrictModel):
    """Byte-level BPE trained on a seeded sample of the curated documents."""

    vocab_size: int = Field(default=8192, ge=512)
    """Including the 256 byte symbols and the 7 special tokens."""
    sample_documents: int = Field(default=20_000, gt=0)
    """Documents drawn (seeded, uniformly over all sources) to train on."""
    min_frequency: int = Field(default=2, ge=1)
    seed: int = 0


class TokenizerConfig(StrictModel):
    """Either `train` a tokenizer on the run's documents or load one from `path`."""

    train: TokenizerTrainConfig | None = None
    path: RegularFile | None = None
    """An existing Hugging Face `tokenizer.json` with tokenmill's special tokens at ids 0-6."""

    @model_validator(mode="after")
    def _one_way(self) -> TokenizerConfig:
        if (self.train is None) == (self.path is None):
            raise ValueError("give exactly one of `train` or `path`")
        return self


class MixtureConfig(StrictModel):
    """How much of each source the token shards hold.

    `weights` are shares of the token budget (`target_tokens`, or 20 tokens per parameter of
    `chinchilla_params`; without a budget, the largest one that repeats nothing); `epochs`
    give each source's passes directly (unlisted sources: 1). Neither: every source once.
    """

    weights: dict[str, float] | None = None
    epochs: dict[str, float] | None = None
    target_tokens: int | None = Field(default=None, gt=0)
    chinchilla_params: int | str | None = None
    """Model size as a number or `125M`/`1.3B`; the budget is 20 tokens per parameter."""
    validation: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Fraction of each source's documents held out for OUT/tokens/val/, before up-sampling."""
    shard_tokens: int = Field(default=50_000_000, gt=0)
    """Training shards hold about this many tokens each."""
    seed: int = 0

    @field_validator("weights", "epochs")
    @classmethod
    def _non_negative(cls, values: dict[str, float] | None) -> dict[str, float] | None:
        for source, value in (values or {}).items():
            if value < 0:
                raise ValueError(f"{source}: must be >= 0, got {value}")
        return values

    @field_validator("chinchilla_params")
    @classmethod
    def _parameter_count(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            from mixing.budget import parse_count

            parse_count(value)
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> MixtureConfig:
        if self.weights is not None and self.epochs is not None:
            raise ValueError("give `weights` or `epochs`, not both")
        if self.target_tokens is not None and self.chinchilla_params is not None:
            raise ValueError("give `target_tokens` or `chinchilla_params`, not both")
        if self.epochs is not None and self.budget() is not None:
            raise ValueError("`epochs` fix the token count; a budget applies with `weights`")
        if self.weights is not None and sum(self.weights.values()) <= 0:
            raise ValueError("weights: at least one must be > 0")
        return self

    def budget(self) -> int | None:
        """The token budget asked for, if any."""
        if self.chinchilla_params is not None:
            from mixing.budget import chinchilla_tokens

            return chinchilla_tokens(self.chinchilla_params)
        return self.target_tokens


class StageSpec(StrictModel):
    name: str
    params: BaseModel


class JobConfig(StrictModel):
    name: str = Field(min_length=1)
    output: str = Field(min_length=1)
    inputs: list[InputSpec] = Field(min_length=1)
    stages: list[StageSpec] = Field(default_factory=list)
    keep_removed: bool = False
    """Write every removed document to OUT/removed/ with its stage and reason."""
    execution: ExecutionConfig = ExecutionConfig()
    mixture: MixtureConfig | None = None
    """Weight sources and write OUT/tokens/; needs a tokenizer (default: train one)."""
    tokenizer: TokenizerConfig | None = None

    @model_validator(mode="after")
    def _stage_order(self) -> JobConfig:
        names = [stage.name for stage in self.stages]
        has_warc = any(spec.format == "warc" for spec in self.inputs)
        if has_warc and "extract" not in names:
            raise ValueError("WARC inputs need an `extract` stage to turn HTML into text")
        if "extract" in names and names[0] != "extract":
            raise ValueError("`extract` must be the first stage")
        sources = [spec.source for spec in self.inputs]
        if len(set(sources)) != len(sources):
            raise ValueError("each input needs its own `source` name")
        if self.mixture is not None:
            for key in ("weights", "epochs"):
                unknown = set(getattr(self.mixture, key) or {}) - set(sources)
                if unknown:
                    raise ValueError(f"mixture.{key}: no input has source {sorted(unknown)}")
            if self.mixture.weights is not None and set(self.mixture.weights) != set(sources):
                missing = sorted(set(sources) - set(self.mixture.weights))
                raise ValueError(
                    f"mixture.weights: give a weight for every source; missing {missing}"
                )
        return self

    def tokenizer_config(self) -> TokenizerConfig:
        """The tokenizer section, or training one with the defaults when only a mixture is set."""
        return self.tokenizer or TokenizerConfig(train=TokenizerTrainConfig())

    def stage(self, name: str) -> StageSpec | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, stages back in their YAML shape."""
        data = self.model_dump(mode="json", exclude={"stages"})
        data["stages"] = [
            {stage.name: stage.params.model_dump(mode="json")} for stage in self.stages
        ]
        return data

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def parse_stages(entries: Any) -> list[StageSpec]:
    from pipeline.stages import STAGE_TYPES

    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError("stages: expected a list of `- name: {params}` entries")
    specs: list[StageSpec] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"stages[{index}]: expected one `name: {{params}}` mapping")
        [(name, params)] = entry.items()
        if name not in STAGE_TYPES:
            known = ", ".join(sorted(STAGE_TYPES))
            raise ConfigError(f"stages[{index}]: unknown stage {name!r} (known: {known})")
        if name in (spec.name for spec in specs):
            raise ConfigError(f"stages.{name}: listed twice; each stage runs at most once")
        try:
            model = STAGE_TYPES[name].Params.model_validate(params or {})
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, prefix=f"stages.{name}")) from None
        specs.append(StageSpec(name=name, params=model))
    return specs


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(part) for part in (prefix, *problem["loc"]) if part != "")
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {message}" if key else message)
    return "\n".join(lines)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=value` to raw config data; stages are addressed by name.

    The value is parsed as YAML, so `0.7`, `true`, `[en, de]` and `{}` keep their types.
    """
    key, sep, raw_value = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected key=value")
    value = yaml.safe_load(raw_value) if raw_value else ""
    *path, last = key.split(".")
    node: Any = data
    for depth, part in enumerate(path):
        node = _descend(node, part, key, in_stages=path[:depth] == ["stages"])
    if path == ["stages"]:
        _stage_entry(node, last, key)[last] = value
    elif isinstance(node, list):
        node[_list_index(node, last, key)] = value
    else:
        node[last] = value


def _descend(node: Any, part: str, key: str, in_stages: bool) -> Any:
    if in_stages:
        entry = _stage_entry(node, part, key)
        if entry[part] is None:
            entry[part] = {}
        return entry[part]
    if isinstance(node, list):
        return node[_list_index(node, part, key)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {key}: {part!r} is inside a value that is not a mapping")
    if node.get(part) is None:
        node[part] = [] if part == "stages" else {}
    return node[part]


def _stage_entry(stages: Any, name: str, key: str) -> dict[str, Any]:
    if not isinstance(stages, list):
        raise ConfigError(f"--set {key}: `stages` is not a list")
    for position, entry in enumerate(stages):
        if entry == name:
            stages[position] = entry = {name: {}}
        if isinstance(entry, dict) and name in entry:
            return entry
    raise ConfigError(f"--set {key}: stage {name!r} is not in the config's stages")


def _list_index(node: list[Any], part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {key}: {part!r} is not an index into a list of {len(node)}")
    return int(part)


def load_config(
    path: str | Path, overrides: list[str] = (), output: str | None = None
) -> JobConfig:
    """Read a YAML job config, apply `--set` overrides and `--output`, validate it."""
    return validate_config(read_config(path, overrides, output), origin=str(path))


def read_config(
    path: str | Path, overrides: list[str] = (), output: str | None = None
) -> dict[str, Any]:
    """A YAML config file as a mapping, with `--set` overrides and `--output` applied."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for assignment in overrides:
        apply_override(data, assignment)
    if output is not None:
        data["output"] = output
    return data


def validate_config(data: dict[str, Any], origin: str = "<config>") -> JobConfig:
    try:
        stages = parse_stages(data.get("stages"))
        return JobConfig.model_validate({**data, "stages": stages})
    except ValidationError as err:
        raise ConfigError(f"{origin}: {format_validation_error(err)}") from None
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None
