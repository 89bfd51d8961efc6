"""WARC reader: HTTP 200 HTML responses become documents; every other record is counted.

`warc_records` frames the records, bounded and recovering from damage (each damaged region
is one errored record). fastwarc parses each record's WARC and HTTP headers, and here we
decide what the record is:
- request, metadata, warcinfo, revisit, conversion and continuation records are not counted;
- a record of an unknown WARC-Type (a damaged type) is errored `corrupt_record`;
- a resource record, or a response that is not HTTP (Heritrix `dns:` records, a damaged
  Content-Type), is removed `not_http`; an HTTP status other than 200 is removed
  `http_status`, a body that is not HTML `not_html`;
- the HTML is decoded as a browser would see it (`http_payload`) before it becomes a row.
Whatever else a record makes go wrong is errored `bad_record`: no record can stop a shard.
`read_records` is this loop for any record type; the WET reader counts `conversion` records
through it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from pipeline.documents import document_id
from pipeline.inputs import InputFile
from pipeline.readers.http_payload import PayloadError, decode_payload
from pipeline.readers.rows import RowBatcher
from pipeline.readers.warc_records import Damage, RawRecord, raw_records
from pipeline.stats import StageStats

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
KNOWN_TYPES = (
    WarcRecordType.response
    | WarcRecordType.resource
    | WarcRecordType.request
    | WarcRecordType.metadata
    | WarcRecordType.warcinfo
    | WarcRecordType.revisit
    | WarcRecordType.conversion
    | WarcRecordType.continuation
)
"""A bitmask: fastwarc's record types are flags. Any other type is unknown (damaged)."""
RESPONSE_TYPES = WarcRecordType.response | WarcRecordType.resource
"""The records a WARC reader counts; the other known types go uncounted."""

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
        ("http_headers", pa.map_(pa.string(), pa.string())),
    ]
)
"""What the WARC reader emits; `extract` turns `html` (+ declared `charset`) into `text`, and
`consent` reads the page's own AI opt-out and licence signals in `html` and `http_headers`
(each header line in order, repeats kept)."""


@dataclass
class Outcome:
    """What a counted record came to: a document row, or why it was removed or errored."""

    row: dict[str, Any] | None = None
    removed: str | None = None
    errored: str | None = None
    payload_bytes: int = 0
    kept_bytes: int = 0
    """The size of the row's content (`html` or `text`), for a kept record."""


Decide = Callable[[WarcRecord, RawRecord, int, str], Outcome]
"""A counted, whole record's outcome, from its parsed header, its raw record, the record
size limit and the input's URL."""


def read_warc(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    batcher = RowBatcher(RAW_SCHEMA, batch_size)
    yield from read_records(file, stats, batcher, RESPONSE_TYPES, _response_outcome)


def read_records(
    file: InputFile, stats: StageStats, batcher: RowBatcher, counted: int, decide: Decide
) -> Iterator[pa.Table]:
    """The rows of `file`'s records of the `counted` types, each judged by `decide`."""
    limit = file.spec.max_record_bytes
    with fsspec.open(file.path, "rb") as handle:
        for item in raw_records(handle, limit):
            outcome = _outcome(item, limit, file.url, counted, decide)
            if outcome is None:
                continue
            stats.docs_in += 1
            stats.bytes_in += outcome.payload_bytes
            if outcome.errored is not None:
                stats.errored[outcome.errored] += 1
            elif outcome.removed is not None:
                stats.removed[outcome.removed] += 1
            else:
                stats.kept += 1
                stats.bytes_kept += outcome.kept_bytes
                row = outcome.row
                if (
                    table := batcher.add(outcome.kept_bytes, source=file.source, **row)
                ) is not None:
                    yield table
    if (table := batcher.flush()) is not None:
        yield table


def _outcome(
    item: RawRecord | Damage, limit: int, input_url: str, counted: int, decide: Decide
) -> Outcome | None:
    """What `item` came to; None for a record that is not counted."""
    if isinstance(item, Damage):
        return Outcome(errored=item.reason)
    try:
        record = _parse_warc_header(item.header)
        if record is None or not record.record_type & KNOWN_TYPES:  # a damaged WARC-Type
            return Outcome(errored="corrupt_record")
        if not record.record_type & counted:
            return None
        if item.too_large:
            return Outcome(errored="too_large")
        if item.truncated:
            return Outcome(errored="truncated_record", payload_bytes=len(item.block))
        return decide(record, item, limit, input_url)
    except Exception:  # a record that breaks a parser in a way we did not foresee
        return Outcome(errored="bad_record")


def record_fields(record: WarcRecord, raw: RawRecord, input_url: str) -> dict[str, Any]:
    """A document's fields from its record's WARC header (the record it was made from may
    be another: `warc_record_id` is the response's)."""
    return {
        "id": document_id(input_url, raw.position),
        "warc_record_id": record.record_id,
        "url": (record.headers.get("WARC-Target-URI") or "").strip("<>") or None,
        "crawl_date": record.record_date,
        "truncated": record.headers.get("WARC-Truncated") is not None,
    }


def _response_outcome(record: WarcRecord, raw: RawRecord, limit: int, input_url: str) -> Outcome:
    if record.record_type == WarcRecordType.resource or not record.is_http:
        return Outcome(removed="not_http", payload_bytes=len(raw.block))
    # The block we framed, not fastwarc's: it reads the Content-Length name case-sensitively.
    record.set_bytes_content(raw.block)
    try:
        record.parse_http()
    except OSError:
        return Outcome(errored="bad_http")
    status = record.http_headers.status_code
    if status is None:
        return Outcome(errored="bad_http")
    body = record.reader.read()
    if status != 200:
        return Outcome(removed="http_status", payload_bytes=len(body))
    if not (record.http_content_type or "").lower().startswith(HTML_TYPES):
        return Outcome(removed="not_html", payload_bytes=len(body))
    try:
        html = _decoded_body(record, body, limit)
    except PayloadError as error:
        return Outcome(errored=error.reason, payload_bytes=len(body))
    row = {
        **record_fields(record, raw, input_url),
        "html": html,
        "charset": record.http_charset,
        "http_headers": list(record.http_headers),
    }
    return Outcome(row=row, payload_bytes=len(body), kept_bytes=len(html))


def _parse_warc_header(header: bytes) -> WarcRecord | None:
    """The record of `header` alone, parsed by fastwarc; None if fastwarc rejects it. Not
    `WarcRecord.from_bytes`: it allocates the declared Content-Length, so a damaged one
    aborts the process."""
    records = ArchiveIterator(
        io.BytesIO(header), record_types=WarcRecordType.any_type, parse_http=False
    )
    try:
        return next(iter(records), None)
    except OSError:
        return None


def _decoded_body(record: WarcRecord, body: bytes, limit: int) -> bytes:
    headers = record.http_headers
    transfer = ", ".join(headers.get_multiple("Transfer-Encoding"))
    content = ", ".join(headers.get_multiple("Content-Encoding"))
    return decode_payload(body, transfer, content, limit)
