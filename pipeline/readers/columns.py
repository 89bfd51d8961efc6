"""Documents from columnar sources (JSONL blocks, Parquet batches): the shared checks.

A row without a string `text` is errored (`missing_text`); an empty or blank text is
removed (`empty_text`). Ids come from an `id` column where there is one, else from the
file key and the row's offset, so they are stable across reruns.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.inputs import InputFile
from pipeline.stats import StageStats

OUTPUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("crawl_date", pa.timestamp("us", tz="UTC")),
        ("truncated", pa.bool_()),
    ]
)


def documents_from_columns(
    table: pa.Table, offsets: pa.Array, file: InputFile, stats: StageStats
) -> pa.Table:
    """Select the documents of `table` (rows at `offsets` in the file) and count the rest."""
    rows = table.num_rows
    text = _string_column(table, "text", rows)
    generated = pc.binary_join_element_wise(
        f"{file.source}/{file.key}/", pc.cast(offsets, pa.string()), ""
    )
    given = _string_column(table, "id", rows)
    ids = pc.coalesce(given, generated)
    documents = pa.table(
        {
            "id": ids,
            "text": text,
            "url": _string_column(table, "url", rows),
            "source": pa.array([file.source] * rows, pa.string()),
            "crawl_date": pa.nulls(rows, pa.timestamp("us", tz="UTC")),
            "truncated": pa.array([False] * rows, pa.bool_()),
        },
        schema=OUTPUT_SCHEMA,
    )
    missing = pc.is_null(text)
    blank = pc.and_(pc.invert(missing), pc.equal(pc.utf8_trim_whitespace(text), ""))
    stats.errored["missing_text"] += pc.sum(missing).as_py() or 0
    stats.removed["empty_text"] += pc.sum(blank).as_py() or 0
    kept = documents.filter(pc.invert(pc.or_(missing, blank)))
    stats.kept += kept.num_rows
    stats.bytes_kept += pc.sum(pc.binary_length(kept.column("text"))).as_py() or 0
    return kept


def _string_column(table: pa.Table, name: str, rows: int) -> pa.Array:
    """The column as strings; absent, or of a type that is not text, it is all null."""
    if name not in table.column_names:
        return pa.nulls(rows, pa.string())
    column = table.column(name).combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if name == "id" and (pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        return column.cast(pa.string())
    return pa.nulls(rows, pa.string())
