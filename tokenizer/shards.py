"""The token shard format (OUT/tokens/*.parquet and OUT/tokens/val/*.parquet).

One row per training sequence: a document's `<|bos|>` + ids + `<|eos|>`. A document the
mixture repeats appears once per `copy` (0..k-1), so (`id`, `copy`) is unique. Plain
Parquet, zstd, readable by pyarrow, duckdb or `datasets` without tokenmill.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

TOKENS_SCHEMA_VERSION = "1"

TOKEN_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("copy", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("num_tokens", pa.int32(), nullable=False),
    ],
    metadata={"tokenmill.tokens_schema_version": TOKENS_SCHEMA_VERSION},
)

ROW_GROUP_ROWS = 1024
"""Small row groups, so a streaming reader holds little more than one at a time."""


def write_token_table(table: pa.Table, sink: BinaryIO) -> str:
    """Write `table` as a token shard to `sink`; returns the file's sha256 for the manifest."""
    buffer = pa.BufferOutputStream()
    pq.write_table(
        table.select(TOKEN_SCHEMA.names).cast(TOKEN_SCHEMA),
        buffer,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
    )
    data = buffer.getvalue()
    sink.write(data)
    return hashlib.sha256(data).hexdigest()
