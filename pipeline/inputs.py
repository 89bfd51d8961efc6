"""Resolving a job's inputs into the list of files to read: paths, globs and manifests.

A Common Crawl `warc.paths(.gz)` or `wet.paths(.gz)` manifest lists one file per line,
relative to `manifest_base` unless the line is a URL or an absolute path. A path or glob
that matches nothing is a config error, raised before any work starts; a file listed in a
manifest that turns out to be missing is counted as errored (`missing_file`) when its shard
runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TypeVar

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fastwarc.warc import ArchiveIterator, WarcRecordType
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import compressions, infer_compression

from pipeline.compressed import ArchiveOfFiles, decompressed
from pipeline.config import InputSpec, JobConfig
from pipeline.documents import holds_text
from pipeline.schema import ConfigError
from pipeline.transient import is_transient, one_line, retried

MANIFEST_SUFFIXES = ("warc.paths", "warc.paths.gz", "wet.paths", "wet.paths.gz")


@dataclass(frozen=True)
class InputFile:
    spec: InputSpec
    path: str
    shard: str
    """Name of the output shard this file is read into, e.g. `web-00003` (with the small
    files beside it: `InputSpec.shard_bytes`)."""

    @property
    def source(self) -> str:
        return self.spec.source

    @property
    def url(self) -> str:
        """The resolved input URL that document ids hash (`file://` + absolute path locally;
        a file name that is not UTF-8, e.g. Latin-1 bytes, with its bytes percent-encoded)."""
        if "://" in self.path:
            return self.path
        if not _undecodable(self.path):
            return f"file://{self.path}"
        return "file://" + urllib.parse.quote(os.fsencode(self.path))


@dataclass(frozen=True)
class InputShard:
    """The files one shard task reads, in their order, into one output shard."""

    name: str
    files: tuple[InputFile, ...]

    @property
    def paths(self) -> list[str]:
        return [file.path for file in self.files]

    def __str__(self) -> str:
        more = len(self.files) - 1
        return f"{self.name} ({self.files[0].path}{f' and {more} more' if more else ''})"


def _undecodable(path: str) -> bool:
    """Whether `path` holds bytes that are not UTF-8 (Python reads them as lone surrogates)."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return True
    return False


def resolve_inputs(config: JobConfig) -> list[InputFile]:
    """Every input's files, each once: a file two patterns of an input match is read once,
    and one that two inputs name is a config error (it would be read, and weighed, twice)."""
    return input_files(config.inputs, config.output)


def input_files(specs: list[InputSpec], output: str, key: str = "inputs") -> list[InputFile]:
    """`resolve_inputs` for the input list at config key `key`, outside the folder `output`."""
    files: list[InputFile] = []
    owner: dict[str, int] = {}
    for index, spec in enumerate(specs):
        sizes = _expand(spec, f"{key}[{index}].paths", output)
        for path in sizes:
            if owner.setdefault(path, index) != index:
                raise ConfigError(
                    f"{key}[{index}].paths: {path} is also an input of {key}[{owner[path]}] "
                    f"(source {specs[owner[path]].source}); a file is read by one input"
                )
        numbers = shard_numbers(list(sizes.values()), spec.shard_bytes)
        files.extend(
            InputFile(spec=spec, path=path, shard=f"{spec.source}-{number:05d}")
            for path, number in zip(sizes, numbers, strict=True)
        )
    return files


def shard_numbers(sizes: list[int | None], shard_bytes: int) -> list[int]:
    """Each file's shard: consecutive files share one while together they hold at most
    `shard_bytes`; a file of unknown size (None) or larger is a shard of its own."""
    numbers: list[int] = []
    held: int | None = None  # what the current shard holds; None: no file may join it
    for size in sizes:
        if shard_bytes and held is not None and size is not None and held + size <= shard_bytes:
            numbers.append(numbers[-1])
            held += size
        else:
            numbers.append(numbers[-1] + 1 if numbers else 0)
            held = size
    return numbers


def input_shards(files: list[InputFile]) -> list[InputShard]:
    """`files` (as `resolve_inputs` orders them) by the shard that reads them."""
    grouped: dict[str, list[InputFile]] = {}
    for file in files:
        grouped.setdefault(file.shard, []).append(file)
    return [InputShard(name, tuple(group)) for name, group in grouped.items()]


def _expand(spec: InputSpec, key: str, output: str) -> dict[str, int | None]:
    """The files `spec` names, each once, with its size where its listing gives one."""
    sizes: dict[str, int | None] = {}
    for pattern in spec.paths:
        if pattern.endswith(MANIFEST_SUFFIXES):
            found = dict.fromkeys(_manifest_entries(pattern, spec.manifest_base, key))
        else:
            found = _pattern_files(spec, pattern, key)
        found = _outside_output(found, output, pattern, key)
        first = next(iter(found))
        _refuse_another_format(spec, first, key)
        _refuse_text_elsewhere(spec, first, key)
        for path, size in found.items():
            sizes.setdefault(path, size)
    return sizes


def _outside_output(
    found: dict[str, int | None], output: str, pattern: str, key: str
) -> dict[str, int | None]:
    """`found` less the files in the run's own output folder, which a rerun would read
    back (`data/**/*.parquet` with the output in data/out)."""
    inside = output.rstrip("/") + "/"
    outside = {path: size for path, size in found.items() if not path.startswith(inside)}
    if not outside:
        raise ConfigError(
            f"{key}: {pattern!r} names only files in the run's output folder {output}; "
            "a run does not read its own output"
        )
    return outside


def _pattern_files(spec: InputSpec, pattern: str, key: str) -> dict[str, int | None]:
    """The files `pattern` names, with their sizes."""
    fs, stripped = url_to_fs(pattern)
    matches = _files_matching(fs, pattern, stripped, key)
    if not matches and fs.isdir(stripped):
        example = f"{pattern.rstrip('/')}/*{TYPICAL_SUFFIX[spec.format]}"
        raise ConfigError(
            f"{key}: {pattern!r} is a folder; give a glob of its files, e.g. {example!r} "
            "(**/ for its subfolders too)"
        )
    if not matches:
        raise ConfigError(f"{key}: {pattern!r} matches no file")
    # Local paths come back absolute, so every worker reads the file the driver found.
    return {fs.unstrip_protocol(m) if "://" in pattern else m: size for m, size in matches.items()}


def _files_matching(
    fs: AbstractFileSystem, pattern: str, stripped: str, key: str
) -> dict[str, int | None]:
    """The files `pattern` names, with their sizes. A glob's listing says which matches are
    files, and their sizes (a look-up per match was thousands of requests on object
    storage, and one answered 503 left its file out of the run); a listing or look-up that
    fails in a way that passes (a 503, a cut connection) is tried again. A glob that
    matches nothing names the file of that name, if there is one (`crawl[2024].jsonl`), as
    a shell passes an unmatched pattern on."""
    if fsspec.core.has_magic(pattern) and (found := _glob_files(fs, pattern, key)):
        return found
    try:
        info = _looked_up(lambda: fs.info(stripped), repr(pattern), key)
    except FileNotFoundError as err:
        if (why := _why_unread(err)) != "not found":
            raise ConfigError(f"{key}: {pattern!r} {why}") from None
        return {}
    return {stripped: info.get("size")} if info["type"] == "file" else {}


def _glob_files(fs: AbstractFileSystem, pattern: str, key: str) -> dict[str, int | None]:
    try:
        found = _looked_up(lambda: fs.glob(pattern, detail=True), repr(pattern), key)
    except FileNotFoundError:  # a bucket that is not there
        return {}
    if isinstance(fs, LocalFileSystem):  # its listing calls a link "other": ask the disk
        disk = {name: _stat(name) for name in sorted(found)}
        return {name: st.st_size for name, st in disk.items() if st and stat.S_ISREG(st.st_mode)}
    return {
        name: found[name].get("size") for name in sorted(found) if found[name]["type"] == "file"
    }


def _stat(path: str) -> os.stat_result | None:
    """`path`'s status, its link's target's for a link; None for a link to nothing."""
    try:
        return os.stat(path)
    except OSError:
        return None


T = TypeVar("T")


def _looked_up(call: Callable[[], T], what: str, key: str) -> T:
    """`call()`, tried again while it fails in a way that passes (`pipeline.transient`);
    past that, or failing otherwise but for a file not found, a ConfigError naming `key`
    and `what` could not be read."""
    try:
        return retried(call, key)
    except FileNotFoundError as err:  # fsspec's HTTP says so of a 503 too
        if not is_transient(err):
            raise
        failure = err
    except Exception as err:  # the store's own: no credentials, access denied
        failure = err
    raise ConfigError(f"{key}: {what} could not be read: {one_line(failure)}") from None


TYPICAL_SUFFIX = {
    "warc": ".warc.gz",
    "wet": ".warc.wet.gz",
    "jsonl": ".jsonl",
    "parquet": ".parquet",
    "text": ".txt",
}
"""For an example glob in an error."""

FORMAT_STARTS = {"warc": b"WARC/", "parquet": b"PAR1", "jsonl": b"{"}
"""How a file of each format starts (after decompression; JSON lines after blank space)."""
COMPRESSION_STARTS = {
    "gzip": rb"\x1f\x8b",
    "zstd": rb"\x28\xb5\x2f\xfd",
    "xz": rb"\xfd7zXZ\x00",
    "bz2": rb"BZh[1-9]1AY&SY",
}
"""How a compressed stream starts, for the compressions fsspec infers from a file name."""

WIDE_TEXT_MARKS = {
    "UTF-32": (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"),
    "UTF-16": (b"\xff\xfe", b"\xfe\xff"),
}
"""Byte-order marks of text not in UTF-8, UTF-32's first (its little-endian mark starts as
UTF-16's): what Windows PowerShell's `>` writes, for one."""


UNREAD_COMPRESSIONS = {"lz4": b"\x04\x22\x4d\x18", "snappy": b"\xff\x06\x00\x00sNaPpY"}
"""Frame formats a file may be in that fsspec has no reader for here."""
TAR_MARK = (257, b"ustar")
"""Where a tar archive's first header says what it is (POSIX.1-1988)."""


def _refuse_misnamed_compression(path: str, key: str) -> None:
    """JSON lines or text named as compressed (`pages.jsonl.gz`) that are not: the reader
    would count the whole file one errored `corrupt_archive`, its documents uncounted."""
    name = infer_compression(path)
    if name not in COMPRESSION_STARTS:
        return
    try:
        with fsspec.open(path, "rb") as handle:
            raw = handle.read(16)
    except Exception:  # left to the reader, as above
        return
    if raw and not re.match(COMPRESSION_STARTS[name], raw):
        suffix = PurePath(path).suffix
        raise ConfigError(
            f"{key}: {path} is named as {name}-compressed, but it is not (it starts with "
            f"{raw[:12]!r}): name it without {suffix} and it is read"
        )


def _refuse_unread_packing(head: bytes, path: str, key: str) -> None:
    """JSON lines or text whose (decompressed) bytes are still packed: compressed under a
    name that does not say so, in a compression fsspec does not read here, or a tar archive,
    whose headers would be read as lines glued to each file's first."""
    for name, start in COMPRESSION_STARTS.items():
        if infer_compression(path) is None and re.match(start, head):
            suffix = next(ext for ext, known in compressions.items() if known == name)
            raise ConfigError(
                f"{key}: {path} is {name}-compressed, but its name does not say so "
                f"(name it {PurePath(path).name}.{suffix} and it is read)"
            )
    for name, start in UNREAD_COMPRESSIONS.items():
        if head.startswith(start):
            raise ConfigError(
                f"{key}: {path} is {name}-compressed, which tokenmill does not read: "
                "decompress it, or compress it as .gz or .zst"
            )
    at, mark = TAR_MARK
    if head[at : at + len(mark)] == mark:
        raise ConfigError(
            f"{key}: {path} is a tar archive: extract it (tar -xf) and give a glob of its files"
        )


def _refuse_wide_text(head: bytes, path: str, key: str) -> None:
    for encoding, marks in WIDE_TEXT_MARKS.items():
        if head.startswith(marks):
            raise ConfigError(
                f"{key}: {path} is {encoding} text (it starts with a byte-order mark); inputs "
                f"are read as UTF-8: convert it first (iconv -f {encoding} -t UTF-8)"
            )


def _refuse_another_format(spec: InputSpec, path: str, key: str) -> None:
    """A config error where an input's first file plainly is of another format than the
    input says (a WARC given as `jsonl`), or is JSON lines or text compressed under a name
    that does not say so (`pages.jsonl` holding gzip) or in UTF-16 or UTF-32, rather than a
    run that counts each of its lines an errored document. A file that starts otherwise, or
    cannot be read, is left to the reader, which counts what it cannot use. (A WARC reader
    finds its compression itself, and Parquet compresses inside the file.)"""
    try:
        if spec.format in ("jsonl", "text"):
            with decompressed(path) as handle:
                head = handle.read(512)
        else:  # a WARC reader finds its compression itself; Parquet compresses inside
            compression = None if spec.format == "parquet" else "infer"
            with fsspec.open(path, "rb", compression=compression) as handle:
                head = handle.read(64)
    except ArchiveOfFiles as err:
        raise ConfigError(f"{key}: {path} is {err}") from None
    except Exception:  # damaged: the reader counts it under its reason
        if spec.format in ("jsonl", "text"):
            _refuse_misnamed_compression(path, key)
        return
    if spec.format in ("jsonl", "text"):
        _refuse_unread_packing(head, path, key)
        _refuse_wide_text(head, path, key)
    head = head.lstrip()
    found = next((name for name, start in FORMAT_STARTS.items() if head.startswith(start)), None)
    if found == "warc":  # one whose head does not tell its kind is left to a WARC reader
        found = _warc_kind(path) or (None if spec.format in ("warc", "wet") else found)
    if found is None or found == spec.format or (spec.format, found) == ("text", "jsonl"):
        return
    what, advice = WARC_KINDS.get(found, (f"a {found} file", None))
    message = f"{key}: {path} is {what}, but the input's format is {spec.format}"
    raise ConfigError(f"{message}; {advice}" if advice else message)


WARC_KINDS = {
    "warc": ("a WARC file of HTTP responses", "read it with format: warc and an extract stage"),
    "wet": ("a WET file, Common Crawl's extracted text", "read it with format: wet"),
    "wat": ("a WAT file of metadata records", "they hold no page text: read its WARC or WET files"),
}
"""The WARC files Common Crawl publishes, by what their first record after `warcinfo` is:
what each is, and how to read it."""
RECORD_KINDS = (
    (WarcRecordType.conversion, "wet"),
    (WarcRecordType.metadata, "wat"),
    (WarcRecordType.response | WarcRecordType.request | WarcRecordType.resource, "warc"),
)
HEAD_BYTES = 64 << 10
"""How much of an input's first file is read to tell its kind, or its fields."""


def _warc_kind(path: str) -> str | None:
    """`warc`, `wet` or `wat`, from the first record after `warcinfo` in the file's first
    64 KiB; None where none is found there (or the file is damaged before)."""
    try:
        with fsspec.open(path, "rb", compression="infer") as handle:
            records = ArchiveIterator(io.BytesIO(handle.read(HEAD_BYTES)), parse_http=False)
            kinds = (k for r in records for types, k in RECORD_KINDS if r.record_type & types)
            return next(kinds, None)  # the first: a record cut at the head's end is not read
    except Exception:  # damaged or cut inside the head: the reader counts what it cannot use
        return None


def _refuse_text_elsewhere(spec: InputSpec, path: str, key: str) -> None:
    """A config error where a `parquet` input's first file has no column of the text's
    name, or one that holds no text (lists, numbers), or where the JSON objects in a
    `jsonl` one's first 64 KiB lack that field (RedPajama's `raw_content`) or hold no
    string in it, rather than a run that errors every document (`missing_text`,
    `text_column_not_text`). The error lists the names the file has, or those of text."""
    if spec.format not in ("jsonl", "parquet"):
        return
    try:
        fields = _parquet_fields(path) if spec.format == "parquet" else _jsonl_fields(path)
    except Exception:  # damaged: the reader counts it under its reason
        return
    if fields is None:
        return
    text, kind = spec.columns.text, "column" if spec.format == "parquet" else "field"
    columns = f"{key.removesuffix('.paths')}.columns"
    fix = f"set {columns}: {{text: NAME}} to the {kind} that holds the text"
    if text not in fields:
        raise ConfigError(
            f"{key}: {path} has no `{text}` {kind} (its {kind}s: {_listed(list(fields))}); {fix}"
        )
    if (held := fields[text]) is not None:
        textual = [name for name, other in fields.items() if other is None]
        raise ConfigError(
            f"{key}: {path}'s `{text}` {kind} holds {held}, not text (its {kind}s of text: "
            f"{_listed(textual)}); {fix}"
        )


def _listed(names: list[str]) -> str:
    return ", ".join(names[:12]) + (", …" if len(names) > 12 else "") or "none"


def _parquet_fields(path: str) -> dict[str, str | None]:
    """Each column of the file's schema: None where it holds text, else its type (`null`
    for a column of nulls alone: a reader finds no text in it)."""
    with fsspec.open(path, "rb") as handle:
        schema = pq.read_schema(handle)
    return {
        field.name: None if holds_text(field.type) and field.type != pa.null() else str(field.type)
        for field in schema
    }


JSON_KINDS = {
    str: "strings",
    list: "lists",
    dict: "objects",
    int: "numbers",
    float: "numbers",
    bool: "booleans",
    type(None): "nulls",
}


def _jsonl_fields(path: str) -> dict[str, str | None] | None:
    """The keys of the JSON objects on the file's whole lines in its first 64 KiB: None
    where a string is found under one, else the kinds of value found; None for the whole
    where there is no object (a first line longer than that)."""
    with fsspec.open(path, "rb", compression="infer") as handle:
        head = handle.read(HEAD_BYTES + 1)
    lines = head.split(b"\n")
    if len(head) > HEAD_BYTES:
        lines = lines[:-1]  # cut at the end of what was read
    kinds: dict[str, set[str]] = {}
    for line in lines:
        with contextlib.suppress(ValueError):
            if isinstance(value := json.loads(line), dict):
                for name, inner in value.items():
                    kinds.setdefault(name, set()).add(JSON_KINDS[type(inner)])
    return {
        name: None if "strings" in found else " and ".join(sorted(found))
        for name, found in kinds.items()
    } or None


def _why_unread(err: FileNotFoundError) -> str:
    """fsspec's HTTP file system says "not found" for any failure; the cause tells a missing
    file (HTTP 404) from a host it cannot reach."""
    cause = err.__cause__
    if cause is None or getattr(cause, "status", None) == 404:
        return "not found"
    return f"could not be read: {cause}"


def _manifest_entries(manifest: str, base: str, key: str) -> list[str]:
    try:
        lines = _looked_up(lambda: _stripped_lines(manifest), f"manifest {manifest!r}", key)
    except FileNotFoundError as err:
        raise ConfigError(f"{key}: manifest {manifest!r} {_why_unread(err)}") from None
    entries = [line for line in lines if line and not line.startswith("#")]
    if not entries:
        raise ConfigError(f"{key}: manifest {manifest!r} lists no file")
    return [e if "://" in e or e.startswith("/") else base.rstrip("/") + "/" + e for e in entries]


def _stripped_lines(path: str) -> list[str]:
    with fsspec.open(path, "rt", compression="infer", encoding="utf-8") as handle:
        return [line.strip() for line in handle]
