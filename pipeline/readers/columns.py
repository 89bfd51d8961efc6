"""Documents from columnar sources (JSONL blocks, Parquet batches): the shared checks.

The input's columns are first renamed to the document's (`inputs[].columns`). A row
without a string `text` is errored (`missing_text`); an empty or blank text is
removed (`empty_text`). Each document's `id` hashes the input's URL and the row's position
in it (line number or row index), so it is unique within a run and stable across reruns;
an `id` the input gives is kept as `source_id`.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import ColumnNames
from pipeline.documents import document_id
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
        ("source_id", pa.string()),
        ("warc_record_id", pa.string()),
    ]
)


def named_as_documents(table: pa.Table, columns: ColumnNames) -> pa.Table:
    """The input's `id`, `text` and `url` columns under those names (where it has them, as
    `columns` names them); its other columns are left out."""
    return pa.table(
        {
            field: table.column(name)
            for field, name in columns.by_field().items()
            if name in table.column_names
        }
    )


def documents_from_columns(
    table: pa.Table, offsets: pa.Array, file: InputFile, stats: StageStats
) -> pa.Table:
    """Select the documents of `table` (rows at `offsets` in the file) and count the rest."""
    rows = table.num_rows
    text = _string_column(table, "text", rows)
    url = file.url
    ids = pa.array([document_id(url, offset) for offset in offsets.to_pylist()], pa.string())
    documents = pa.table(
        {
            "id": ids,
            "text": text,
            "url": _string_column(table, "url", rows),
            "source": pa.array([file.source] * rows, pa.string()),
            "crawl_date": pa.nulls(rows, pa.timestamp("us", tz="UTC")),
            "truncated": pa.array([False] * rows, pa.bool_()),
            "source_id": _string_column(table, "id", rows),
            "warc_record_id": pa.nulls(rows, pa.string()),
        },
        schema=OUTPUT_SCHEMA,
    )
    missing = pc.is_null(text)
    undecodable = pc.and_(missing, _binary_values(table, "text"))
    blank = pc.and_(pc.invert(missing), pc.equal(pc.utf8_trim_whitespace(text), ""))
    _count(stats.errored, "invalid_utf8", undecodable)
    _count(stats.errored, "missing_text", pc.and_not(missing, undecodable))
    _count(stats.removed, "empty_text", blank)
    kept = documents.filter(pc.invert(pc.or_(missing, blank)))
    stats.kept += kept.num_rows
    stats.bytes_kept += pc.sum(pc.binary_length(kept.column("text"))).as_py() or 0
    return kept


def utf8_size(text: str) -> int | None:
    """The string's size in UTF-8 bytes; None where no UTF-8 string can hold it: a lone
    surrogate (JSON can escape one, `\\ud800`; decoding with `surrogateescape` makes one
    of each byte that is not UTF-8)."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def _count(counter: Counter[str], reason: str, rows: pa.Array) -> None:
    if count := pc.sum(rows).as_py():
        counter[reason] += count


def _string_column(table: pa.Table, name: str, rows: int) -> pa.Array:
    """The column as strings: text stored as string, large_string, binary or dictionary is
    read as text (binary that is not UTF-8 becomes null); absent or of another kind, null.
    An `id` of another scalar kind (integers, say) is written out as a string."""
    if name not in table.column_names:
        return pa.nulls(rows, pa.string())
    column = table.column(name).combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _utf8(column)
    if name == "id" and not pa.types.is_nested(kind):
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.nulls(rows, pa.string())


def _binary_values(table: pa.Table, name: str) -> pa.Array:
    """Per row: the column holds bytes there (so a null after decoding means not UTF-8)."""
    if name not in table.column_names:
        return pa.array([False] * table.num_rows)
    column = table.column(name).combine_chunks()
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    return pc.and_(pc.is_valid(column), pa.scalar(binary))


def _utf8(column: pa.Array) -> pa.Array:
    """Binary values as strings, null where a value is not valid UTF-8."""
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        values = []
        for value in column.to_pylist():
            try:
                values.append(None if value is None else value.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
        return pa.array(values, pa.string())
