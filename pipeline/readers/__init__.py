"""Readers turn one input file into Arrow batches of documents, counting as they go.

Each reader counts into the `read` stage: every record it meets is `docs_in`; records that
are not documents (a 404, an image) are `removed`, records it cannot read (corrupt, too
large, not JSON) are `errored` with a reason, and reading goes on past them. A reader
never raises for bad data; only the shard's own plumbing can fail a shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import fsspec
import pyarrow as pa

from pipeline.inputs import InputFile
from pipeline.stats import StageStats

Reader = Callable[[InputFile, StageStats, int], Iterator[pa.Table]]


def read_documents(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    """Batches of documents from `file`; a missing or empty file is one errored record."""
    from pipeline.readers import jsonl, parquet, text, warc

    readers: dict[str, Reader] = {
        "warc": warc.read_warc,
        "jsonl": jsonl.read_jsonl,
        "parquet": parquet.read_parquet,
        "text": text.read_text,
    }
    fs, path = fsspec.core.url_to_fs(file.path)
    try:
        size = fs.size(path)
    except FileNotFoundError:
        size = None
    if not size:
        stats.docs_in += 1
        stats.errored["missing_file" if size is None else "empty_file"] += 1
        return
    yield from readers[file.spec.format](file, stats, batch_size)


class RowBatcher:
    """Collects rows column by column and hands out Arrow tables of `batch_size` rows."""

    def __init__(self, schema: pa.Schema, batch_size: int, max_bytes: int = 64 << 20) -> None:
        self.schema = schema
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self._columns: dict[str, list] = {name: [] for name in schema.names}
        self._bytes = 0

    def add(self, size: int, **row: str | bytes | bool | datetime | None) -> pa.Table | None:
        for name, values in self._columns.items():
            values.append(row.get(name))
        self._bytes += size
        full = len(self._columns["id"]) >= self.batch_size or self._bytes >= self.max_bytes
        return self.flush() if full else None

    def flush(self) -> pa.Table | None:
        if not self._columns["id"]:
            return None
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        self._columns = {name: [] for name in self.schema.names}
        self._bytes = 0
        return table
