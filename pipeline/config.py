"""The job config: YAML → typed pydantic models, with `--set key=value` overrides.

Stages are a list of one-key mappings (`- extract: {engine: resiliparse}`); each stage's
parameters are validated by the `Params` model of the stage class registered under that
name, so an unknown stage, an unknown key or a wrong type fails before any work starts
with a message that names the key (`stages.extract.engine: ...`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A job config that cannot run; the message names the offending key."""


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
        return self

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
    return validate_config(data, origin=str(path))


def validate_config(data: dict[str, Any], origin: str = "<config>") -> JobConfig:
    try:
        stages = parse_stages(data.get("stages"))
        return JobConfig.model_validate({**data, "stages": stages})
    except ValidationError as err:
        raise ConfigError(f"{origin}: {format_validation_error(err)}") from None
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None
