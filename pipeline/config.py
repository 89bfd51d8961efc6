"""The job config: YAML → typed pydantic models, with `--set key=value` overrides.

Stages are a list of one-key mappings (`- extract: {engine: resiliparse}`); each stage's
parameters are validated by the `Params` model of the stage class registered under that
name, so an unknown stage, an unknown key or a wrong type fails before any work starts
with a message that names the key (`stages.extract.engine: ...`). Each section's model
lives with what it configures (`mixing.config`, `tokenizer.config`, the stages' `Params`);
what they share is `pipeline.schema`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from mixing.config import MixtureConfig
from pipeline.config_kind import refuse_another_kind
from pipeline.schema import (
    AbsolutePath,
    ConfigError,
    PathCheck,
    StrictModel,
    format_validation_error,
    read_config,
)
from pipeline.stage import GlobalStage
from pipeline.stage_registry import STAGE_TYPES
from tokenizer.config import TokenizerConfig, TokenizerTrainConfig


class ColumnNames(StrictModel):
    """Where a `jsonl` or `parquet` input keeps each document field (datatrove's `text_key`
    and `id_key`)."""

    text: str = Field(default="text", min_length=1)
    """The document's text (RedPajama's `raw_content`, The Stack's `content`)."""
    id: str = Field(default="id", min_length=1)
    """The input's own id for it, kept as `source_id`."""
    url: str = Field(default="url", min_length=1)
    """The page it came from."""

    def by_field(self) -> dict[str, str]:
        """Document field → the input's name for it."""
        return {"id": self.id, "text": self.text, "url": self.url}

    @model_validator(mode="after")
    def _distinct(self) -> ColumnNames:
        if len({self.text, self.id, self.url}) < 3:
            raise ValueError("text, id and url name three different columns")
        return self


class InputSpec(StrictModel):
    source: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The source's name: shard names, report rows and `mixture` weights use it."""
    format: Literal["warc", "wet", "jsonl", "parquet", "text"]
    """`warc` (HTML responses; needs `extract`), `wet` (Common Crawl's extracted text: WARC `conversion` records), `jsonl` and `parquet` (a `text` field or column; `id`, `url` kept if present), or plain `text`."""
    paths: list[AbsolutePath] = Field(min_length=1)
    """Files, globs or URLs; a `warc.paths(.gz)` or `wet.paths(.gz)` manifest lists WARC or WET files (relative entries against `manifest_base`). Compressed files (.gz, .zst) are read as such. A file two entries match is read once; one file cannot be an input of two sources; a glob leaves out the files in the run's own output."""
    split_on: str | None = None
    """`text` only: a regex whose matches start a new document (e.g. WikiText's ` = Title = `)."""
    max_record_bytes: int = Field(default=10_000_000, gt=0)
    """Records larger than this are counted as errored `too_large` instead of read."""
    limit: int | None = Field(default=None, gt=0)
    """Documents read from each file at most, its first (as datatrove's readers' `limit`): to try a config on part of its inputs. Those the reader's last batch held past it are counted as removed `past_limit`."""
    shard_bytes: int = Field(default=256 * 1024, ge=0)
    """Consecutive files of this input are read into one shard while together they hold at most this many bytes (as stored), so that thousands of small files (`text` files of a document each) do not each pay a shard's fixed cost (a task, every stage's per-batch work, Parquet files of its own: about 10 ms). A larger file is a shard of its own, as is a file whose listing gives no size (a manifest's entries). 0: a shard per file."""
    manifest_base: AbsolutePath = "https://data.commoncrawl.org/"
    """Prefix for relative entries of a `warc.paths(.gz)` or `wet.paths(.gz)` manifest."""
    columns: ColumnNames = ColumnNames()
    """`jsonl` and `parquet` only: the fields or columns that hold `text`, `id` and `url`, e.g. `{text: raw_content}`."""

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
    def _options_of_other_formats(self) -> InputSpec:
        if self.split_on is not None and self.format != "text":
            raise ValueError("split_on applies only to format: text")
        if self.columns != ColumnNames() and self.format not in ("jsonl", "parquet"):
            raise ValueError("columns applies only to format: jsonl or parquet")
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


class StageSpec(StrictModel):
    name: str
    params: BaseModel


def _raw_columns_read_before_global_stages(names: list[str]) -> None:
    """A stage that reads the fetched pages (`consent`: their HTML and HTTP headers) must run
    before a global stage: documents come back from one without them."""
    first_global = next((n for n in names if issubclass(STAGE_TYPES[n], GlobalStage)), None)
    if first_global is None:
        return
    for name in names[names.index(first_global) + 1 :]:
        if STAGE_TYPES[name].reads:
            raise ValueError(
                f"`{name}` must come before `{first_global}`: it reads the fetched pages' "
                f"{' and '.join(STAGE_TYPES[name].reads)}, which documents no longer carry "
                f"after `{first_global}`"
            )


class JobConfig(StrictModel):
    """A pipeline job: inputs, the stages run over them in order, and where the run goes."""

    name: str = Field(min_length=1)
    """The run's name, shown in its report."""
    output: AbsolutePath = Field(min_length=1)
    """The run's folder or URL (OUT): documents/, tokens/, report/, and the state a rerun resumes from."""
    inputs: list[InputSpec] = Field(min_length=1)
    stages: list[StageSpec] = Field(default_factory=list)
    keep_removed: bool = False
    """Write every removed document to OUT/removed/ with its stage and reason."""
    execution: ExecutionConfig = ExecutionConfig()
    mixture: MixtureConfig | None = None
    """Weight sources and write OUT/tokens/; needs a tokenizer (default: train one)."""
    tokenizer: TokenizerConfig | None = None
    """The BPE the token shards use: trained on this run's documents, or an existing one (`path`) so several runs share token ids."""

    @model_validator(mode="after")
    def _stage_order(self) -> JobConfig:
        names = [stage.name for stage in self.stages]
        has_warc = any(spec.format == "warc" for spec in self.inputs)
        if has_warc and "extract" not in names:
            raise ValueError("WARC inputs need an `extract` stage to turn HTML into text")
        if "extract" in names and names[0] != "extract":
            raise ValueError("`extract` must be the first stage")
        if has_warc:
            _raw_columns_read_before_global_stages(names)
        sources = [spec.source for spec in self.inputs]
        if len(set(sources)) != len(sources):
            raise ValueError("each input needs its own `source` name")
        if self.tokenizer is not None and self.mixture is None:
            raise ValueError(
                "tokenizer: only the token shards use it, and they need a `mixture:` section "
                "(`mixture: {}` writes every source once)"
            )
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
            epochs = self.mixture.epochs
            if epochs is not None and not any(epochs.get(source, 1.0) for source in sources):
                raise ValueError("mixture.epochs: every source at 0 leaves no tokens")
        return self

    @model_validator(mode="after")
    def _per_language_rules_apply(self) -> JobConfig:
        """Quality rules for a language no document gets (a typo, `ger`; or no language
        stage at all) would change nothing."""
        quality, language = self.stage("quality"), self.stage("language")
        chosen = set(quality.params.languages) if quality else set()
        if not chosen:
            return self
        names = [stage.name for stage in self.stages]
        if language is None or names.index("language") > names.index("quality"):
            raise ValueError(
                "stages.quality.languages: only documents a `language` stage labels get a "
                "language's rules; add one before `quality`"
            )
        labels = language.params.labels()
        if unknown := sorted(chosen - labels) if labels is not None else []:
            raise ValueError(
                f"stages.quality.languages: {', '.join(unknown)}: the language stage never "
                "writes these (lid.176 writes ISO 639-1 codes such as en, de, zh)"
            )
        return self

    @property
    def makes_tokens(self) -> bool:
        """Whether the run makes a tokenizer (`tokenizer:`), and with `mixture:` token shards."""
        return self.mixture is not None or self.tokenizer is not None

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


def parse_stages(entries: Any, context: dict[str, Any] | None = None) -> list[StageSpec]:
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
            close = difflib.get_close_matches(str(name), STAGE_TYPES, n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise ConfigError(f"stages[{index}]: unknown stage {name!r} ({hint}known: {known})")
        if name in (spec.name for spec in specs):
            raise ConfigError(f"stages.{name}: listed twice; each stage runs at most once")
        try:
            model = STAGE_TYPES[name].Params.model_validate(params or {}, context=context)
        except ValidationError as err:
            message = format_validation_error(err, f"stages.{name}", STAGE_TYPES[name].Params)
            raise ConfigError(message) from None
        specs.append(StageSpec(name=name, params=model))
    return specs


def load_config(
    path: str | Path, overrides: list[str] = (), output: str | None = None
) -> JobConfig:
    """Read a YAML job config, apply `--set` overrides and `--output`, validate it."""
    data = read_config(path, overrides, output)
    refuse_another_kind(data, str(path), "run")
    return validate_config(data, origin=str(path))


def validate_config(
    data: dict[str, Any], origin: str = "<config>", path_check: PathCheck | None = None
) -> JobConfig:
    """The job config `data` describes; `path_check` may refuse any path it holds."""
    context = {"path_check": path_check}
    try:
        stages = parse_stages(data.get("stages"), context)
        return JobConfig.model_validate({**data, "stages": stages}, context=context)
    except ValidationError as err:
        raise ConfigError(f"{origin}: {format_validation_error(err, model=JobConfig)}") from None
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None
