"""The config schema's leaf: what every config section is built from, importing nothing
of tokenmill, so the stages, the libraries and the pipeline can all build on it.

The strict base model, `ConfigError`, the formatting of validation errors that names the
key, `--set key=value` overrides, and the path types: every path a config holds is made
absolute (or kept a URL) when it is loaded, before any task is sent anywhere, so a
cluster's workers read what the user meant; a model, list or tokenizer must also be a
regular file. Whoever validates a config may refuse paths (`PathCheck`): the job service
admits only those under its allowed roots.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import fsspec
import yaml
from fsspec.core import url_to_fs
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

UNIONS = (typing.Union, types.UnionType)


class ConfigError(ValueError):
    """A job config that cannot run; the message names the offending key."""


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FilePath(str):
    """A config path that names a regular file: a model, a list, a tokenizer."""


CLOUD_EXTRA = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}
"""Protocols whose fsspec file system `pip install 'tokenmill[cloud]'` adds."""


def usable_url(url: str) -> str:
    """`url` if fsspec knows its protocol and the package that reads it is installed."""
    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as err:
        if package := CLOUD_EXTRA.get(protocol):
            raise ValueError(
                f"{url}: {protocol}:// needs pip install 'tokenmill[cloud]' (adds {package})"
            ) from None
        raise ValueError(f"{url}: {err}") from None
    except ValueError:
        raise ValueError(f"{url}: unknown protocol {protocol}://") from None
    return url


def regular_file(path: str) -> FilePath:
    """`path` if it names a regular file (not a folder, device or FIFO, which would be read
    forever or block), made absolute so that Ray workers find it too."""
    if "://" in path:
        fs, stripped = url_to_fs(usable_url(path))
        try:
            found = fs.info(stripped)["type"] == "file"
        except FileNotFoundError:
            found = False
        except Exception as err:  # the store's own: no credentials, access denied
            raise ValueError(f"{path}: could not be read: {type(err).__name__}: {err}") from None
        if not found:
            raise ValueError(f"file not found: {path}")
        return FilePath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ValueError(f"file not found: {path}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"not a regular file: {path}")
    return FilePath(Path(path).resolve())


def absolute(path: str) -> str:
    """A local path (a glob too) made absolute against the current folder; URLs as given."""
    return usable_url(path) if "://" in path else os.path.abspath(os.path.expanduser(path))


PathCheck = Callable[[str], str | None]
"""Why an absolute path or URL may not be used, or None: what a caller of `validate_config`
may give (the job service: its allowed roots)."""


def admitted(path: str, info: ValidationInfo) -> str:
    """`path` unless the validation's `path_check` (in its context) refuses it; checked
    before a file's existence is, so a refused path is never looked at."""
    check = (info.context or {}).get("path_check")
    if check is not None and (problem := check(path)):
        raise ValueError(problem)
    return path


RegularFile = Annotated[
    str, AfterValidator(absolute), AfterValidator(admitted), AfterValidator(regular_file)
]
"""A config path to a model, list or tokenizer file; see `regular_file`."""
AbsolutePath = Annotated[str, AfterValidator(absolute), AfterValidator(admitted)]
"""A config path to an input, an output or an index, which need not exist yet."""


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


def format_validation_error(
    err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One line per key at fault, naming it dotted, with what each arm of a union wanted; an
    unknown key of `model` (or of a section inside it) gets the closest known key as a
    suggestion."""
    found: list[tuple[str, str, bool]] = []
    for problem in err.errors():
        loc, whole = _config_key(model, problem["loc"]) if model else (problem["loc"], False)
        key = ".".join(str(part) for part in (prefix, *loc) if part != "")
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden" and model is not None:
            *parent, unknown = loc
            close = difflib.get_close_matches(str(unknown), _known_keys(model, parent), n=1)
            message += f"; did you mean `{close[0]}`?" if close else ""
        found.append((key, message, whole))
    problems: dict[str, list[str]] = {}
    for key, message, whole in found:
        # An arm that refused the value whole (`a valid boolean`) is noise beside the error
        # inside the arm that took it (a mapping's bad threshold).
        if not (whole and any(other.startswith(f"{key}.") for other, _, _ in found)):
            problems.setdefault(key, []).append(message)
    return "\n".join(
        f"{key}: {'; or '.join(messages)}" if key else "; or ".join(messages)
        for key, messages in problems.items()
    )


def _config_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[list, bool]:
    """`loc` as a config writes it: without the names pydantic gives the arms of a union it
    tried (`Params` in `gopher_quality.Params.min_stop_words`, `constrained-float`); and
    whether it ends in one (that arm refused the whole value)."""
    key, annotation, whole = [], model, False
    for part in loc:
        section = _model_in(annotation)
        is_field = section is not None and part in section.model_fields
        whole = _has_arms(annotation) and isinstance(part, str) and not is_field
        if whole:
            annotation = section if section is not None and part == section.__name__ else None
            continue
        key.append(part)
        annotation = _annotation_of(annotation, part)
    return key, whole


def _has_arms(annotation: Any) -> bool:
    """A union of two or more types besides None: pydantic names the arm in an error's loc."""
    arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
    return typing.get_origin(annotation) in UNIONS and len(arms) > 1


def _known_keys(model: type[BaseModel], loc: list[int | str]) -> list[str]:
    """The keys of the section at `loc` inside `model`."""
    annotation: Any = model
    for part in loc:
        annotation = _annotation_of(annotation, part)
    section = _model_in(annotation)
    return list(section.model_fields) if section else []


def _annotation_of(annotation: Any, part: int | str) -> Any:
    """The annotation of `part` inside `annotation` (through lists, dicts and unions); None
    where it has none."""
    section = _model_in(annotation)
    if isinstance(part, str) and section is not None and part in section.model_fields:
        return section.model_fields[part].annotation
    if typing.get_origin(annotation) in (list, dict) or isinstance(part, int):
        return typing.get_args(annotation)[-1] if typing.get_args(annotation) else None
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or one arm of an Optional or a union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (*UNIONS, Annotated):
        for arm in typing.get_args(annotation):
            if found := _model_in(arm):
                return found
    return None


TOO_DEEP = "lists or mappings nested too deeply to read (a config is a few levels deep)"


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key a mapping holds twice (YAML requires them to be
    unique): PyYAML kept the last, so of `output: a` then `output: b`, or of two `train:`
    sections, one was dropped without a word. Keys a merge (`<<: *base`) brings may be
    given again: that is how a merge is overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            earlier = first.setdefault(self.construct_object(key_node), key_node)
            if earlier is not key_node:
                mark = earlier.start_mark
                raise yaml.constructor.ConstructorError(
                    problem=f"{key_node.value} is given twice in one mapping (first at line "
                    f"{mark.line + 1}, column {mark.column + 1}); give it once",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep)


def parse_yaml(text: str | bytes, origin: str) -> Any:
    """`text` parsed as YAML (safely; bytes in UTF-8, or UTF-16 with its mark); where it is
    not YAML (a key given twice included), a one-line ConfigError naming `origin` and where
    the text goes wrong."""
    try:
        return yaml.load(text, Loader=_UniqueKeys)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: not valid YAML: {_yaml_problem(err)}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: {TOO_DEEP}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error on one line (its own message quotes the text under a caret)."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        context = f" ({err.context})" if err.context else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: {err.problem}{context}"
    if isinstance(err, yaml.reader.ReaderError):
        if err.encoding != "unicode":  # bytes it could not decode
            return f"byte {err.position} is not {err.encoding} text ({err.reason})"
        return f"character U+{err.character:04X} at {err.position}: {err.reason}"
    return " ".join(str(err).split())


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=value` to raw config data; stages are addressed by name.

    The value is parsed as YAML, so `0.7`, `true`, `[en, de]` and `{}` keep their types.
    """
    key, sep, raw_value = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected key=value")
    value = parse_yaml(raw_value, f"--set {key}") if raw_value else ""
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
    names = [str(n) for entry in stages for n in (entry if isinstance(entry, dict) else [entry])]
    close = difflib.get_close_matches(name, names, n=1)
    raise ConfigError(
        f"--set {key}: stage {name!r} is not in the config's stages ({', '.join(names)})"
        + (f"; did you mean `{close[0]}`?" if close else "")
    )


def _list_index(node: list[Any], part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {key}: {part!r} is not an index into a list of {len(node)}")
    return int(part)


def read_config(
    path: str | Path, overrides: list[str] = (), output: str | None = None
) -> dict[str, Any]:
    """A YAML config file as a mapping, with `--set` overrides and `--output` applied."""
    path = Path(path)
    if not path.is_file():
        found = "a folder, not a config file" if path.is_dir() else "config file not found"
        raise ConfigError(f"{path}: {found}")
    try:
        text = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it: {err.strerror}") from None
    data = parse_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return with_overrides(data, overrides, output)


def with_overrides(
    data: dict[str, Any], overrides: list[str] = (), output: str | None = None
) -> dict[str, Any]:
    """`data` (changed in place) with `--set` overrides and `--output` applied."""
    for assignment in overrides:
        apply_override(data, assignment)
    if output is not None:
        data["output"] = output
    return data


def assignments(values: dict[str, Any]) -> list[str]:
    """Values by dotted key as `--set` takes them: `{train.steps: 20}` → `train.steps=20`."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]
