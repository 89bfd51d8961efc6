"""Encode-and-count, one Ray task per documents shard.

Each task encodes its shard once, holds out the validation documents (a seeded
per-source fraction, decided before any up-sampling) straight into OUT/tokens/val/, keeps
the training documents' tokens for the shuffle in OUT/_state/tokens/encoded/, and returns
their counts by source and sampling bucket: all the mixture plan needs, in a few KB.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from mixing.keys import SAMPLE, VALIDATION, derive, id_keys, uniform
from mixing.mixture import BUCKETS, SourceCounts
from pipeline.checksums import verify_file
from pipeline.faults import kill_point
from pipeline.output import RunOutput
from tokenizer.bpe import for_documents
from tokenizer.encode import encode_documents, one_thread_per_task
from tokenizer.shards import write_token_table

ENCODED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("input_ids", pa.list_(pa.int32())),
        pa.field("num_tokens", pa.int32()),
        pa.field("key", pa.uint64()),
    ]
)
"""Staged training documents: the token columns plus the id's seeded key."""


@dataclass
class EncodeResult:
    shard: str
    documents: int = 0
    errored: Counter[str] = field(default_factory=Counter)
    counts: dict[str, SourceCounts] = field(default_factory=dict)
    val_shard: dict | None = None
    """The validation file this shard wrote: name, rows, tokens by source."""


@dataclass(frozen=True)
class EncodeJob:
    output: str
    tokenizer_json: str
    seed: int
    validation: float
    batch_size: int


def encode_shard(name: str, recorded: dict, job: EncodeJob) -> EncodeResult:
    """Encode documents shard `name`, first checked to be what the run `recorded` writing."""
    one_thread_per_task()
    output = RunOutput(job.output)
    verify_file(output.url_of("documents", name), recorded)
    tokenizer = document_tokenizer(job.tokenizer_json)
    result = EncodeResult(shard=name)
    val_parts: list[pa.Table] = []
    stem = name.removesuffix(".parquet")
    with (
        output.fs.open(output.path("documents", name), "rb") as documents,
        output.atomic("_state", "tokens", "encoded", name) as staged,
        pq.ParquetWriter(staged, ENCODED_SCHEMA, compression="zstd") as writer,
    ):
        batches = pq.ParquetFile(documents).iter_batches(
            job.batch_size, columns=["id", "source", "text"]
        )
        for batch in batches:
            result.documents += batch.num_rows
            has_text = pc.is_valid(batch.column("text"))
            result.errored["no_text"] += batch.num_rows - pc.sum(has_text).as_py()
            table = _encode(tokenizer, batch.filter(has_text), job.seed)
            held_out = uniform(derive(table.column("key").to_numpy(), VALIDATION)) < job.validation
            train = table.filter(pa.array(~held_out))
            writer.write_table(train)
            kill_point("tokens.encode")
            _count(train, result.counts)
            val = table.filter(pa.array(held_out))
            val_parts.append(val)
            _count_validation(val, result.counts)
    val = pa.concat_tables(val_parts) if val_parts else ENCODED_SCHEMA.empty_table()
    if val.num_rows:
        val = val.append_column("copy", pa.array(np.zeros(val.num_rows, np.int32)))
        with output.atomic("tokens", "val", f"{stem}.parquet") as handle:
            sha256 = write_token_table(val.sort_by("key"), handle)
        result.val_shard = shard_summary(f"val/{stem}.parquet", "val", val, sha256)
    return result


@functools.lru_cache(maxsize=2)
def document_tokenizer(tokenizer_json: str) -> Tokenizer:
    """The run's tokenizer, parsed once per worker process rather than once per shard."""
    return for_documents(Tokenizer.from_str(tokenizer_json), "the run's tokenizer")


def _encode(tokenizer: Tokenizer, batch: pa.RecordBatch, seed: int) -> pa.Table:
    input_ids = encode_documents(tokenizer, batch.column("text"))
    return pa.table(
        {
            "id": batch.column("id"),
            "source": batch.column("source").cast(pa.string()),
            "input_ids": input_ids,
            "num_tokens": pc.list_value_length(input_ids).cast(pa.int32()),
            "key": id_keys(batch.column("id"), seed),
        },
        schema=ENCODED_SCHEMA,
    )


def sample_buckets(keys: np.ndarray) -> np.ndarray:
    return (uniform(derive(keys, SAMPLE)) * BUCKETS).astype(np.int64)


def _count(train: pa.Table, counts: dict[str, SourceCounts]) -> None:
    buckets = sample_buckets(train.column("key").to_numpy())
    tokens = train.column("num_tokens").to_numpy()
    sources = train.column("source")
    for source in pc.unique(sources).to_pylist():
        mine = pc.equal(sources, source).to_numpy(zero_copy_only=False)
        entry = counts.setdefault(source, SourceCounts())
        entry.documents += np.bincount(buckets[mine], minlength=BUCKETS)
        entry.tokens += np.bincount(buckets[mine], weights=tokens[mine], minlength=BUCKETS).astype(
            np.int64
        )


def _count_validation(val: pa.Table, counts: dict[str, SourceCounts]) -> None:
    for row in (
        val.group_by("source")
        .aggregate([("num_tokens", "sum"), ("num_tokens", "count")])
        .to_pylist()
    ):
        entry = counts.setdefault(row["source"], SourceCounts())
        entry.val_documents += row["num_tokens_count"]
        entry.val_tokens += row["num_tokens_sum"]


def shard_summary(path: str, split: str, table: pa.Table, sha256: str) -> dict:
    """What the manifest says about one token file (path relative to OUT/tokens/)."""
    by_source = sorted(
        table.group_by("source")
        .aggregate([("num_tokens", "sum"), ("num_tokens", "count")])
        .to_pylist(),
        key=lambda row: row["source"],
    )
    return {
        "path": path,
        "split": split,
        "rows": table.num_rows,
        "tokens": pc.sum(table.column("num_tokens")).as_py() or 0,
        "tokens_by_source": {row["source"]: row["num_tokens_sum"] for row in by_source},
        "rows_by_source": {row["source"]: row["num_tokens_count"] for row in by_source},
        "sha256": sha256,
    }
