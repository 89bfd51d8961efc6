"""WET reader: Common Crawl's extracted text, one document per `conversion` record.

A WET file (`CC-MAIN-….warc.wet.gz`) is a WARC file whose records hold the plain text
Common Crawl extracted from each HTML response: WARC-Type `conversion`, UTF-8, the page's URL
and date, and `WARC-Refers-To` naming the response it came from (kept as `warc_record_id`).
The documents have their text already, so no `extract` stage is needed (datatrove's
WarcReader reads the same records). Records are framed as the WARC reader frames them:
- warcinfo and the other non-page records are not counted;
- a response or resource record (a WARC's page, not its text) is removed `not_conversion`;
- a conversion record with no text is removed `empty_text`, one that is not UTF-8 is errored
  `invalid_utf8`; damage, truncation and size are counted as the WARC reader counts them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from fastwarc.warc import WarcRecord, WarcRecordType

from pipeline.inputs import InputFile
from pipeline.readers.columns import OUTPUT_SCHEMA
from pipeline.readers.rows import RowBatcher
from pipeline.readers.warc import RESPONSE_TYPES, Outcome, read_records, record_fields
from pipeline.readers.warc_records import RawRecord
from pipeline.stats import StageStats


def read_wet(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    batcher = RowBatcher(OUTPUT_SCHEMA, batch_size)  # the columnar readers' documents
    counted = WarcRecordType.conversion | RESPONSE_TYPES
    yield from read_records(file, stats, batcher, counted, _conversion_outcome)


def _conversion_outcome(record: WarcRecord, raw: RawRecord, limit: int, input_url: str) -> Outcome:
    size = len(raw.block)
    if record.record_type != WarcRecordType.conversion:
        return Outcome(removed="not_conversion", payload_bytes=size)
    try:
        text = raw.block.decode("utf-8")
    except UnicodeDecodeError:
        return Outcome(errored="invalid_utf8", payload_bytes=size)
    if not text.strip():
        return Outcome(removed="empty_text", payload_bytes=size)
    row = record_fields(record, raw, input_url)
    row["warc_record_id"] = record.headers.get("WARC-Refers-To") or row["warc_record_id"]
    return Outcome(row={**row, "text": text}, payload_bytes=size, kept_bytes=size)
