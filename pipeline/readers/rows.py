"""Rows collected one at a time and handed out as Arrow tables of a batch's size."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa


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
