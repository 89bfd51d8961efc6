"""JSONL reader (.jsonl, .jsonl.gz, .jsonl.zst): one JSON object per line with `text` (or
the field `inputs[].columns` names).

Lines are parsed a block at a time by pyarrow's JSON reader; only a block that pyarrow
rejects is re-read line by line, to keep its good lines and count the bad ones
(`invalid_json`, `invalid_utf8` for bytes that are not UTF-8 or an escaped lone surrogate,
`missing_text`). A line over `max_record_bytes` is errored
`too_large` without being assembled; a compressed file that is cut or corrupt keeps every
whole line decompressed before the damage and counts the rest as one errored
`corrupt_archive`; a zip archive of several files is one errored `archive_of_files`
(fsspec would read its first file alone). A document's
position, for its id, is its line number; the object's own `id` is kept as `source_id`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from pipeline.compressed import DAMAGED_STREAM, ArchiveOfFiles, decompressed
from pipeline.config import ColumnNames
from pipeline.inputs import InputFile
from pipeline.readers.columns import documents_from_columns, named_as_documents, utf8_size
from pipeline.stats import StageStats


def read_jsonl(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    try:
        with decompressed(file.path) as handle:
            yield from _read_lines(handle, file, stats, batch_size)
    except ArchiveOfFiles:
        stats.docs_in += 1
        stats.errored["archive_of_files"] += 1
    except zipfile.BadZipFile:  # damage found where it is opened, in its directory
        stats.docs_in += 1
        stats.errored["corrupt_archive"] += 1


def _read_lines(
    handle: io.IOBase, file: InputFile, stats: StageStats, batch_size: int
) -> Iterator[pa.Table]:
    lines: list[bytes] = []
    numbers: list[int] = []
    for number, line in enumerate(readable_lines(handle, file.spec.max_record_bytes, stats)):
        if isinstance(line, int):  # longer than the limit: counted, never assembled
            stats.docs_in += 1
            stats.bytes_in += line
            stats.errored["too_large"] += 1
            continue
        if not line.strip():
            continue
        stats.docs_in += 1
        stats.bytes_in += len(line)
        lines.append(line)
        numbers.append(number)
        if len(lines) >= batch_size:
            yield _parse_block(lines, numbers, file, stats)
            lines, numbers = [], []
    if lines:
        yield _parse_block(lines, numbers, file, stats)


def readable_lines(handle: io.IOBase, limit: int, stats: StageStats) -> Iterator[bytes | int]:
    """`bounded_lines` up to where a compressed file turns out cut or corrupt: the lines
    before are kept, what follows is one errored `corrupt_archive`."""
    try:
        yield from bounded_lines(handle, limit)
    except DAMAGED_STREAM:
        stats.docs_in += 1
        stats.errored["corrupt_archive"] += 1


def bounded_lines(
    handle: io.IOBase, limit: int, chunk_size: int = 1 << 20
) -> Iterator[bytes | int]:
    """The lines of a binary stream, in time linear in its size. A line longer than `limit`
    comes back as its length: its bytes are dropped as they are read, so one huge line
    (or a decompression bomb of one) never sits in memory. Compressed streams (zstd) may
    not iterate by themselves, hence the chunks."""
    pieces: list[bytes] = []  # the current line so far; dropped once it passes the limit
    length = 0
    # read1 hands over what is decompressed as it comes, so a cut file keeps all it held.
    read = getattr(handle, "read1", handle.read)
    while chunk := read(chunk_size):
        *ends, rest = chunk.split(b"\n")
        for end in ends:
            length += len(end)
            yield b"".join([*pieces, end]) if length <= limit else length
            pieces, length = [], 0
        length += len(rest)
        if length <= limit:
            pieces.append(rest)
        else:
            pieces = []
    if length:
        yield b"".join(pieces) if length <= limit else length


def _parse_block(
    lines: list[bytes], numbers: list[int], file: InputFile, stats: StageStats
) -> pa.Table:
    try:
        table = pa_json.read_json(io.BytesIO(b"\n".join(line.rstrip(b"\r\n") for line in lines)))
        table = named_as_documents(table, file.spec.columns)
        offsets = pa.array(numbers, pa.int64())
    except pa.ArrowInvalid:
        table, offsets = _parse_lines(lines, numbers, file.spec.columns, stats)
    return documents_from_columns(table, offsets, file, stats)


def _parse_lines(
    lines: list[bytes], numbers: list[int], columns: ColumnNames, stats: StageStats
) -> tuple[pa.Table, pa.Array]:
    rows, good = [], []
    for line, number in zip(lines, numbers, strict=True):
        try:
            value = json.loads(line)
        except UnicodeDecodeError:
            stats.errored["invalid_utf8"] += 1
            continue
        except json.JSONDecodeError:
            stats.errored["invalid_json"] += 1
            continue
        if not isinstance(value, dict):
            stats.errored["invalid_json"] += 1
            continue
        row = {field: value.get(name) for field, name in columns.by_field().items()}
        if any(utf8_size(field) is None for field in row.values() if isinstance(field, str)):
            stats.errored["invalid_utf8"] += 1  # an escaped lone surrogate, "\ud800"
            continue
        rows.append(row)
        good.append(number)
    for row in rows:
        row["id"] = None if row["id"] is None else str(row["id"])
        if not isinstance(row["text"], str):
            row["text"] = None
        if not isinstance(row["url"], str):
            row["url"] = None
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema), pa.array(np.array(good, dtype=np.int64))
