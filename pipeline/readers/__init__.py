"""Readers turn one input file into Arrow batches of documents, counting as they go.

Each reader counts into the `read` stage: every record it meets is `docs_in`; records that
are not documents (a 404, an image) are `removed`, records it cannot read (corrupt, too
large, not JSON) are `errored` with a reason, and reading goes on past them. A reader
never raises for bad data; only the shard's own plumbing can fail a shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing

import fsspec
import pyarrow as pa

from pipeline.documents import text_bytes
from pipeline.inputs import InputFile
from pipeline.readers.jsonl import read_jsonl
from pipeline.readers.parquet import read_parquet
from pipeline.readers.text import read_text
from pipeline.readers.warc import read_warc
from pipeline.readers.wet import read_wet
from pipeline.stats import StageStats
from pipeline.transient import is_transient

Reader = Callable[[InputFile, StageStats, int], Iterator[pa.Table]]


READERS: dict[str, Reader] = {
    "warc": read_warc,
    "wet": read_wet,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "text": read_text,
}


def read_documents(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    """Batches of documents from `file`; a missing or empty file is one errored record."""
    fs, path = fsspec.core.url_to_fs(file.path)
    try:
        size = fs.size(path)
    except FileNotFoundError as err:  # fsspec's HTTP says so of any failure
        if is_transient(err):  # a 503: the shard is tried again, the file is not missing
            raise
        size = None
    if not size:
        stats.docs_in += 1
        stats.errored["missing_file" if size is None else "empty_file"] += 1
        return
    limit = file.spec.limit
    if limit is None:
        yield from READERS[file.spec.format](file, stats, batch_size)
        return
    with closing(READERS[file.spec.format](file, stats, min(batch_size, limit))) as batches:
        yield from _first(batches, limit, stats)


def _first(batches: Iterator[pa.Table], limit: int, stats: StageStats) -> Iterator[pa.Table]:
    """The first `limit` documents of `batches`; the rest of the batch that reaches it is
    counted as removed `past_limit`, and no more is read."""
    for batch in batches:
        if batch.num_rows >= limit:
            past = batch.slice(limit)
            stats.kept -= past.num_rows
            stats.bytes_kept -= text_bytes(past)
            if past.num_rows:
                stats.removed["past_limit"] += past.num_rows
            yield batch.slice(0, limit)
            return
        limit -= batch.num_rows
        yield batch
