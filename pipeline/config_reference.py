"""`docs/config.md`: every key of the job and training configs, generated from their models.

Each key's type, bounds, default and description come from the models themselves (the
description is the docstring under the field), so the reference cannot drift from what the
loaders accept: `python -m pipeline.config_reference` rewrites the file, and a test fails
when it is stale.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline.ablation.config import AblationConfig, ConfigSource, Variant, file_or_mapping
from pipeline.config import ExecutionConfig, InputSpec, JobConfig
from pipeline.schema import AbsolutePath, RegularFile, absolute, regular_file
from pipeline.stage_registry import STAGE_TYPES
from trainer.config import PosttrainConfig, TrainConfig

DOCS = Path(__file__).resolve().parent.parent / "docs" / "config.md"

HEADER = """\
# Config reference

Generated from the config models by `python -m pipeline.config_reference`; do not edit by
hand (a test fails when this file is stale). `tokenmill validate CONFIG` checks a config
against these rules, resolves its paths and prints the plan without running it.

A key is written as it is given to `--set` (`execution.workers=2`,
`stages.quality.c4.min_sentences=3`); `inputs[]` marks a list of entries. A path is made
absolute against the folder the command runs in; a URL (`s3://`, `gs://`) is kept as given.
A float is a finite number (`.nan` and `.inf` are refused).
"""


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    default: str
    description: str


def render_reference() -> str:
    """The whole reference as Markdown."""
    parts = [HEADER, "## Job config (`tokenmill run`)\n", _intro(JobConfig)]
    parts.append(_table(_keys(JobConfig, "", skip={"inputs", "stages", "execution"})))
    parts.append(_section("inputs[]", InputSpec, "One entry per source."))
    parts.append(_section("execution", ExecutionConfig, "How the run uses Ray."))
    parts.append(
        "### stages\n\nA list of one-key mappings, run in order (`- quality: {c4: false}`); "
        "`- name` alone takes the defaults.\n"
    )
    for name, stage in STAGE_TYPES.items():
        parts.append(_section(f"stages.{name}", stage.Params, _intro(stage), level=4))
    parts.append("## Training config (`tokenmill train`)\n")
    parts.append(_table(_keys(TrainConfig, "")))
    parts.append("## Post-training config (`tokenmill sft`, `reward`, `dpo`, `grpo`)\n")
    parts.append(_intro(PosttrainConfig))
    parts.append(_table(_keys(PosttrainConfig, "")))
    parts.append("## Ablation config (`tokenmill ablate`)\n")
    parts.append(_intro(AblationConfig))
    parts.append(_table(_keys(AblationConfig, "", skip={"variants", "eval"})))
    parts.append(
        _section("variants.NAME", Variant, "By name, in order; the first is the baseline.")
    )
    parts.append(
        "### eval[]\n\nHeld-out text, by source: entries as `inputs[]` takes them, in the "
        "`jsonl`, `parquet`, `text` or `wet` format.\n"
    )
    return "\n".join(parts)


def _section(key: str, model: type, intro: str, level: int = 3) -> str:
    return f"{'#' * level} {key}\n\n{intro}\n{_table(_keys(model, key))}"


def _table(keys: list[Key]) -> str:
    if not keys:
        return "No parameters.\n"
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    rows += [
        f"| `{k.name}` | {_cell(k.kind)} | {_cell(k.default)} | {_cell(k.description)} |"
        for k in keys
    ]
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _intro(cls: type) -> str:
    """The first paragraph of a class's own docstring (not one it inherits, nor the
    signature `@dataclass` writes where the class has none)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    if doc.startswith(f"{cls.__name__}("):
        return ""
    return doc.split("\n\n")[0].replace("\n", " ") + "\n" if doc else ""


def _keys(cls: type, prefix: str, skip: set[str] = frozenset()) -> list[Key]:
    """The keys of a section, its sub-sections' keys after each (depth first)."""
    docs = _attribute_docs(cls)
    keys: list[Key] = []
    for name, annotation, default, bounds in _fields(cls):
        if name in skip:
            continue
        key = f"{prefix}.{name}" if prefix else name
        inner = _section_in(annotation)
        kind = _type_text(annotation) + (f" ({bounds})" if bounds else "")
        description = docs.get(name) or (_intro(inner) if inner is not None else "")
        keys.append(Key(key, kind, default, description))
        if inner is not None:
            listed = typing.get_origin(_without_none(annotation)) is list
            keys += _keys(inner, f"{key}[]" if listed else key)
    return keys


def _fields(cls: type) -> list[tuple[str, Any, str, str]]:
    """(name, annotation, default, bounds) for a pydantic model's or a dataclass's fields."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return [
            (f.name, hints[f.name], _dataclass_default(f), _bounds(f.metadata))
            for f in dataclasses.fields(cls)
        ]
    return [
        (name, _annotation(info), _model_default(info), _bounds(_metadata_bounds(info.metadata)))
        for name, info in cls.model_fields.items()
    ]


def _annotation(info) -> Any:
    """A pydantic field's annotation, with the path types pydantic moved into its metadata."""
    checks = {getattr(item, "func", None) for item in info.metadata}
    if file_or_mapping in checks:
        return ConfigSource
    if regular_file in checks:
        return RegularFile
    if absolute in checks:
        return AbsolutePath
    return info.annotation


def _dataclass_default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _value_text(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return _value_text(f.default_factory())
    return "required"


def _model_default(info) -> str:
    if info.default is not PydanticUndefined:
        return _value_text(info.default)
    if info.default_factory is not None:
        return _value_text(info.default_factory())
    return "required"


def _value_text(value: Any) -> str:
    if isinstance(value, BaseModel) or dataclasses.is_dataclass(value):
        return "see below"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def _metadata_bounds(metadata: list) -> dict[str, Any]:
    names = ("gt", "ge", "lt", "le", "min_length")
    return {
        name: getattr(item, name)
        for item in metadata
        for name in names
        if getattr(item, name, None) is not None
    }


def _bounds(limits: typing.Mapping[str, Any]) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    text = [f"{symbols[name]} {value}" for name, value in limits.items() if name in symbols]
    if limits.get("min_length") or limits.get("min_len"):
        text.append("not empty")
    return ", ".join(text)


def _type_text(annotation: Any) -> str:
    if annotation is AbsolutePath:
        return "path"
    if annotation is RegularFile:
        return "file path"
    if annotation is ConfigSource:
        return "file path | mapping"
    if annotation is type(None):
        return "null"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:  # an arm of a union, with its own bounds
        constraints = [item for arg in args[1:] for item in getattr(arg, "metadata", None) or [arg]]
        bounds = _bounds(_metadata_bounds(constraints))
        return _type_text(args[0]) + (f" ({bounds})" if bounds else "")
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(arm) for arm in args)
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (list, dict, tuple):
        return f"{origin.__name__}[{', '.join(_type_text(arg) for arg in args)}]"
    if _is_section(annotation):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    )


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return annotation


def _section_in(annotation: Any) -> type | None:
    """The model a field holds: itself, inside an Optional, or as a list's entries."""
    annotation = _without_none(annotation)
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    return annotation if _is_section(annotation) else None


def _attribute_docs(cls: type) -> dict[str, str]:
    """The string literal under each field (`x: int = 1` then `\"\"\"...\"\"\"`), over the MRO."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if base.__module__ in ("builtins", "pydantic.main") or base is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(base))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body
        for field, after in itertools.pairwise(body):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[field.target.id] = inspect.cleandoc(after.value.value)
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.config_reference",
        description="Rewrite the config reference from the config models (a test fails when "
        "docs/config.md is stale).",
    )
    parser.add_argument(
        "target", nargs="?", type=Path, default=DOCS, help="the file to write (docs/config.md)"
    )
    target = parser.parse_args(argv).target
    target.write_text(render_reference(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
