"""Parquet reader: rows of a file with a string `text` column (+ optional `id`, `url`; other
names as `inputs[].columns` says), of any of Arrow's string or binary types (views and
dictionaries too).

A file without a `text` column has all its rows errored as `missing_text_column`, one whose
`text` column holds no text (integers, lists) as `text_column_not_text`; a file that is not
Parquet at all is one errored `corrupt_file`; the rows of a row group that does
not decode are errored `corrupt_row_group`, and the other row groups are read. A string
value that is not UTF-8 (a writer need not check) is errored `invalid_utf8`.
"""

from __future__ import annotations

from collections.abc import Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.documents import holds_text
from pipeline.inputs import InputFile
from pipeline.readers.columns import documents_from_columns, named_as_documents
from pipeline.stats import StageStats


def read_parquet(file: InputFile, stats: StageStats, batch_size: int) -> Iterator[pa.Table]:
    with fsspec.open(file.path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowInvalid, OSError):
            stats.docs_in += 1
            stats.errored["corrupt_file"] += 1
            return
        schema = parquet.schema_arrow
        names = file.spec.columns
        if (unreadable := _text_column_problem(schema, names.text)) is not None:
            rows = max(parquet.metadata.num_rows, 1)
            stats.docs_in += rows
            stats.errored[unreadable] += rows
            return
        columns = [name for name in names.by_field().values() if name in schema.names]
        start = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            read = 0
            try:
                for batch in parquet.iter_batches(batch_size, row_groups=[group], columns=columns):
                    stats.docs_in += batch.num_rows
                    offsets = pa.array(np.arange(start + read, start + read + batch.num_rows))
                    read += batch.num_rows
                    table = named_as_documents(_without_views(batch), names)
                    table = _invalid_strings_as_binary(table)
                    yield documents_from_columns(table, offsets, file, stats)
            except (pa.ArrowInvalid, OSError):  # a damaged row group: the others still read
                stats.docs_in += rows - read
                stats.errored["corrupt_row_group"] += rows - read
            start += rows


def _text_column_problem(schema: pa.Schema, text: str) -> str | None:
    """Why no row of a file with this schema has text: no `text` column, or one of a type
    that holds no text (a column of nulls alone is rows without text: `missing_text`)."""
    if text not in schema.names:
        return "missing_text_column"
    return None if holds_text(schema.field(text).type) else "text_column_not_text"


def _without_views(batch: pa.RecordBatch) -> pa.Table:
    """Columns in Arrow's view layouts (`string_view`, `binary_view`: pyarrow and Polars
    write them) as the large string and binary types the readers take; their rows were
    errored `missing_text`."""
    table = pa.Table.from_batches([batch])
    for index, field in enumerate(table.schema):
        if pa.types.is_string_view(field.type) or pa.types.is_binary_view(field.type):
            plain = pa.large_string() if pa.types.is_string_view(field.type) else pa.large_binary()
            table = table.set_column(index, field.name, table.column(index).cast(plain))
    return table


def _invalid_strings_as_binary(table: pa.Table) -> pa.Table:
    """Parquet writers need not check that a string column is UTF-8, and pyarrow reads it
    as it is. A column that is not is read as the bytes it holds, so each value that is not
    UTF-8 is counted `invalid_utf8` (`documents_from_columns`) instead of failing the shard
    where a stage decodes it."""
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(index)
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                binary = pa.large_binary() if pa.types.is_large_string(field.type) else pa.binary()
                table = table.set_column(index, field.name, column.cast(binary))
    return table
