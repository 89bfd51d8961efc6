"""The document data model: one document is one Arrow row with these columns.

Every shard of a run has the same schema: the base columns plus every annotation column of
every stage in the plan, null where a stage did not apply. The schema carries
`tokenmill.schema_version` in its metadata.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = "2"
"""2: `id` is run-unique (a hash of input URL and position); `source_id`, `warc_record_id`."""

BASE_FIELDS = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("url", pa.string()),
    pa.field("source", pa.string()),
    pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
    pa.field("truncated", pa.bool_()),
    pa.field("source_id", pa.string()),
    pa.field("warc_record_id", pa.string()),
)
"""`truncated`: the crawler cut the record's payload (WARC-Truncated); the text may be partial.
`source_id`: the id the input gave the document (JSONL/Parquet `id`), null where none.
`warc_record_id`: the WARC-Record-ID of the response it came from, as written."""

RAW_COLUMNS = ("html", "charset", "http_headers")
"""What a WARC reader hands the stages beside the base columns: the page as it was fetched
(its body, the charset its HTTP header declares, its HTTP headers). They are never written:
the shard runner drops each after the last stage that `reads` it."""

REMOVED_FIELDS = (pa.field("stage", pa.string()), pa.field("reason", pa.string()))
"""Extra columns of OUT/removed/ shards: which stage removed the document and why."""


def document_id(input_url: str, position: str | int) -> str:
    """A document's `id`: unique within a run and stable across reruns.

    A hash of the resolved input URL and the record's position in that input (a WARC
    record's byte offset, a JSONL or text line number, a Parquet row index). Ids the input
    carries are kept beside it (`source_id`, `warc_record_id`) but never relied on: they
    repeat across files, and sometimes inside one.
    """
    return hashlib.blake2b(f"{input_url}\n{position}".encode(), digest_size=12).hexdigest()


def document_schema(annotation_fields: list[pa.Field]) -> pa.Schema:
    schema = pa.schema([*BASE_FIELDS, *annotation_fields])
    return schema.with_metadata({"tokenmill.schema_version": SCHEMA_VERSION})


def removed_schema(documents: pa.Schema) -> pa.Schema:
    return pa.schema([*documents, *REMOVED_FIELDS], metadata=documents.metadata)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select, order and cast `table`'s columns to `schema`, adding absent ones as nulls."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def without(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """`table` without those of `columns` it has."""
    present = [name for name in columns if name in table.column_names]
    return table.drop_columns(present) if present else table


def text_bytes(table: pa.Table) -> int:
    """Bytes of the documents' content: their text, or their HTML before extraction."""
    column = next((c for c in ("text", "html") if c in table.column_names), None)
    if column is None or table.num_rows == 0:
        return 0
    return pc.sum(pc.binary_length(table.column(column))).as_py() or 0


def holds_text(kind: pa.DataType) -> bool:
    """Whether a column of this type can be read as documents' text: Arrow's string and
    binary types, views and dictionaries of them, or nulls (rows without text)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_null(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    )
