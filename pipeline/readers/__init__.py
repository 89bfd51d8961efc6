"""Readers turn one input file into Arrow batches of documents, counting as they go.

Each reader counts into the `read` stage: every record it meets is `docs_in`; records that
are not documents (a 404, an image) are `removed`, records it cannot read (corrupt, too
large, not JSON) are `errored` with a reason, and reading goes on past them. A reader
never raises for bad data; only the shard's own plumbing can fail a shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import fsspec
import pyarrow as pa

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
    yield from READERS[file.spec.format](file, stats, batch_size)
