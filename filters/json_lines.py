"""JSON-lines files as Arrow tables, read by pyarrow whatever the length of a line."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.json as pajson

FIRST_BLOCK_BYTES = 1 << 20
MAX_BLOCK_BYTES = 1 << 30
"""The longest line read."""


def read_json_lines(data: bytes, block_bytes: int = FIRST_BLOCK_BYTES) -> pa.Table:
    """The records of a JSON-lines file's content. pyarrow parses in blocks that must each
    hold whole lines, so where a line overflows its block the content is read again with
    blocks four times as large. ArrowInvalid where a line is not a JSON object."""
    try:
        options = pajson.ReadOptions(block_size=block_bytes)
        return pajson.read_json(io.BytesIO(data), options)
    except pa.ArrowInvalid as err:
        if "straddl" in str(err) and block_bytes < MAX_BLOCK_BYTES:  # a line over the block
            return read_json_lines(data, block_bytes * 4)
        raise
