"""WARC reader: HTTP 200 HTML responses become documents, with recovery from damage.

fastwarc parses the stream. It stops, sometimes silently, at a truncated gzip member,
garbage bytes or a record whose Content-Length lies; so after it stops we find where the
last good record ended and, if the file goes on, resume at the next record boundary (the
next gzip member, or the next `WARC/1.x` header), counting each skipped region as one
errored record. Good records after the damage are never lost.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import fsspec
import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from pipeline.documents import document_id
from pipeline.inputs import InputFile
from pipeline.readers import RowBatcher
from pipeline.stats import StageStats

GZIP_MAGIC = b"\x1f\x8b\x08"
RECORD_START = re.compile(rb"\r?\n\r?\n(WARC/1\.[01]\r?\n)")
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
SCAN_CHUNK = 1 << 20

RAW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("crawl_date", pa.timestamp("us", tz="UTC")),
        ("truncated", pa.bool_()),
        ("warc_record_id", pa.string()),
        ("html", pa.binary()),
        ("charset", pa.string()),
    ]
)
"""What the WARC reader emits; `extract` turns `html` (+ declared `charset`) into `text`."""


def read_warc(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    batcher = RowBatcher(RAW_SCHEMA, batch_size)
    limit = file.spec.max_record_bytes
    with fsspec.open(file.path, "rb") as handle:
        for record in resilient_records(handle, stats):
            if record.record_type != WarcRecordType.response:
                continue
            stats.docs_in += 1
            row = _document_row(record, limit, stats, file.url)
            if row is None:
                continue
            stats.kept += 1
            stats.bytes_kept += len(row["html"])
            if (table := batcher.add(len(row["html"]), source=file.source, **row)) is not None:
                yield table
    if (table := batcher.flush()) is not None:
        yield table


def _document_row(record: WarcRecord, limit: int, stats: StageStats, url: str) -> dict | None:
    if record.content_length > limit:
        stats.errored["too_large"] += 1
        return None
    try:
        record.parse_http()
        body = record.reader.read()
    except Exception:  # a malformed HTTP block is this record's problem only
        stats.errored["bad_http"] += 1
        return None
    stats.bytes_in += len(body)
    if len(body) < record.content_length:  # the archive ends inside this record
        stats.errored["truncated_record"] += 1
        return None
    if record.http_headers.status_code != 200:
        stats.removed["http_status"] += 1
        return None
    content_type = (record.http_content_type or "").lower()
    if not content_type.startswith(HTML_TYPES):
        stats.removed["not_html"] += 1
        return None
    return {
        "id": document_id(url, record.stream_pos),
        "warc_record_id": record.record_id,
        "url": (record.headers.get("WARC-Target-URI") or "").strip("<>") or None,
        "crawl_date": record.record_date,
        "truncated": record.headers.get("WARC-Truncated") is not None,
        "html": body,
        "charset": record.http_charset,
    }


def resilient_records(handle: BinaryIO, stats: StageStats) -> Iterator[WarcRecord]:
    """Every readable record of the file, skipping (and counting) damaged regions."""
    size = handle.seek(0, 2)
    handle.seek(0)
    gzipped = handle.read(3) == GZIP_MAGIC
    start = 0
    while start < size:
        last = None
        for last in _records_from(handle, start):
            yield last
        if last is not None:
            end = _record_end(handle, last.stream_pos, gzipped)
            if end is None or _only_padding(handle, end, size):
                return
            # Gzip members frame records reliably; in a plain WARC a lying Content-Length
            # may have swallowed the next header, so look again right after this record's start.
            start = end if gzipped else last.stream_pos + 1
        resume = _next_readable(handle, start, size, gzipped)
        truncated = resume is None and gzipped and _ends_inside_member(handle, start)
        stats.docs_in += 1
        stats.errored["truncated_archive" if truncated else "corrupt_record"] += 1
        if resume is None:
            return
        start = resume


def _records_from(handle: BinaryIO, start: int) -> Iterator[WarcRecord]:
    handle.seek(start)
    iterator = ArchiveIterator(handle, record_types=WarcRecordType.any_type, parse_http=False)
    try:
        for record in iterator:
            if record.stream_pos < start:  # a stream that counts from where we seeked
                record.stream_pos += start
            yield record
    except OSError:
        return


def _record_end(handle: BinaryIO, position: int, gzipped: bool) -> int | None:
    """Offset just past the record starting at `position`, or None if it never ends."""
    if gzipped:
        return _member_end(handle, position)
    handle.seek(position)
    head = handle.read(64 << 10)
    header_end = head.find(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head[:header_end])
    if header_end < 0 or length is None:
        return None
    return position + header_end + 4 + int(length.group(1))


def _member_end(handle: BinaryIO, position: int) -> int | None:
    handle.seek(position)
    inflater = zlib.decompressobj(31)
    consumed = 0
    while chunk := handle.read(SCAN_CHUNK):
        try:
            inflater.decompress(chunk)
        except zlib.error:
            return None
        if inflater.eof:
            return position + consumed + len(chunk) - len(inflater.unused_data)
        consumed += len(chunk)
    return None


def _ends_inside_member(handle: BinaryIO, position: int) -> bool:
    """True when a gzip member starts at `position` and the file ends before it does."""
    handle.seek(position)
    if handle.read(3) != GZIP_MAGIC:
        return False
    return _member_end(handle, position) is None and not _corrupt_member(handle, position)


def _corrupt_member(handle: BinaryIO, position: int) -> bool:
    handle.seek(position)
    inflater = zlib.decompressobj(31)
    try:
        while chunk := handle.read(SCAN_CHUNK):
            inflater.decompress(chunk)
    except zlib.error:
        return True
    return False


def _only_padding(handle: BinaryIO, start: int, size: int) -> bool:
    if size - start > 16:
        return False
    handle.seek(start)
    return not handle.read().strip()


def _next_readable(handle: BinaryIO, start: int, size: int, gzipped: bool) -> int | None:
    """The first offset at or after `start` from which at least one record parses."""
    for candidate in _boundaries(handle, start, size, gzipped):
        if next(_records_from(handle, candidate), None) is not None:
            return candidate
    return None


def _boundaries(handle: BinaryIO, start: int, size: int, gzipped: bool) -> Iterator[int]:
    yield start
    position = start + 1
    while position < size:
        handle.seek(position)
        window = handle.read(SCAN_CHUNK + 16)
        if gzipped:
            found = window.find(GZIP_MAGIC)
            if found >= 0:
                yield position + found
                position += found + 1
                continue
        elif (match := RECORD_START.search(window)) is not None:
            yield position + match.start(1)
            position += match.start(1) + 1
            continue
        position += SCAN_CHUNK
