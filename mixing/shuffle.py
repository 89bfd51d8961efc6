"""The global shuffle at document level, as a two-step Ray shuffle (scatter, then gather).

Scatter (one task per staged shard): apply the mixture plan (each document's number of
copies), give every (document, copy) a seeded output shard, and write one piece per
output shard under OUT/_state/tokens/scatter/. Gather (one task per output shard): read
its pieces, order the rows by a seeded key and write OUT/tokens/train-NNNNN.parquet. No
process holds more than one staged shard or one output shard, so the corpus never has
to fit in one memory; shard sizes vary around `shard_tokens` as random assignment does.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixing.count import sample_buckets, shard_summary
from mixing.keys import ORDER, SHARD, derive
from mixing.mixture import SourcePlan
from pipeline.faults import kill_point
from pipeline.output import RunOutput
from tokenizer.shards import write_token_table


@dataclass(frozen=True)
class ShuffleJob:
    output: str
    plans: dict[str, SourcePlan]
    shards: int
    batch_size: int


@dataclass
class ScatterResult:
    documents: Counter[str] = field(default_factory=Counter)
    """Per source: training documents read, kept (at least one copy), and rows written."""


def scatter(name: str, job: ShuffleJob) -> ScatterResult:
    output = RunOutput(job.output)
    result = ScatterResult()
    stem = name.removesuffix(".parquet")
    with (
        ExitStack() as stack,
        output.fs.open(output.path("_state", "tokens", "encoded", name), "rb") as handle,
    ):
        writers: dict[int, pq.ParquetWriter] = {}
        for batch in pq.ParquetFile(handle).iter_batches(job.batch_size):
            rows = _repeat(pa.Table.from_batches([batch]), job.plans, result)
            keys = derive(rows.column("key").to_numpy(), SHARD, _copies(rows))
            targets = keys % np.uint64(job.shards)
            for target in np.unique(targets).tolist():
                piece = rows.filter(pa.array(targets == target))
                if target not in writers:
                    sink = stack.enter_context(
                        output.atomic(*_piece_folder(target), f"{stem}.parquet")
                    )
                    writers[target] = stack.enter_context(
                        pq.ParquetWriter(sink, piece.schema, compression="zstd")
                    )
                writers[target].write_table(piece)
    return result


def _piece_folder(shard: int) -> tuple[str, ...]:
    return ("_state", "tokens", "scatter", f"{shard:05d}")


def _repeat(table: pa.Table, plans: dict[str, SourcePlan], result: ScatterResult) -> pa.Table:
    """Each document as many times as the plan says, with its `copy` number."""
    buckets = sample_buckets(table.column("key").to_numpy())
    copies = np.zeros(table.num_rows, np.int64)
    sources = table.column("source")
    for source in pc.unique(sources).to_pylist():
        mine = pc.equal(sources, source).to_numpy(zero_copy_only=False)
        copies[mine] = plans[source].copies(buckets[mine])
        result.documents[f"{source}.in"] += int(mine.sum())
        result.documents[f"{source}.kept"] += int((copies[mine] > 0).sum())
        result.documents[f"{source}.rows"] += int(copies[mine].sum())
    rows = np.repeat(np.arange(table.num_rows), copies)
    starts = np.repeat(np.cumsum(copies) - copies, copies)
    copy = np.arange(len(rows)) - starts
    return table.take(rows).append_column("copy", pa.array(copy.astype(np.int32)))


def _copies(rows: pa.Table) -> np.ndarray:
    return rows.column("copy").to_numpy().astype(np.uint64)


def gather(shard: int, job: ShuffleJob) -> dict | None:
    """Shuffle one output shard's pieces and write it; None when no row landed in it."""
    output = RunOutput(job.output)
    folder = _piece_folder(shard)
    pieces = []
    for name in output.list(*folder, suffix=".parquet"):
        with output.fs.open(output.path(*folder, name), "rb") as handle:
            pieces.append(pq.read_table(handle))
    if not pieces:
        return None
    table = pa.concat_tables(pieces)
    order = np.argsort(derive(table.column("key").to_numpy(), ORDER, _copies(table)), kind="stable")
    name = f"train-{shard:05d}.parquet"
    table = table.take(order)
    with output.atomic("tokens", name) as handle:
        kill_point("tokens.gather")
        sha256 = write_token_table(table, handle)
    return shard_summary(name, "train", table, sha256)
