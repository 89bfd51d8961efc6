"""The `shuffle` phase: the global shuffle at document level, as a two-step Ray shuffle
(scatter, then gather), and the tokens manifest.

Scatter (one task per staged shard): apply the mixture plan (each document's number of
copies), give every (document, copy) a seeded output shard, and write one piece per
output shard under OUT/_state/tokens/scatter/. Gather (one task per output shard): read
its pieces, order the rows by a seeded key and write OUT/tokens/train-NNNNN.parquet. No
process holds more than one staged shard or one output shard, so the corpus never has
to fit in one memory; shard sizes vary around `shard_tokens` as random assignment does.
"""

from __future__ import annotations

import math
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from mixing.counts import shard_summary
from mixing.keys import ORDER, SHARD, derive
from mixing.mixture import SourcePlan
from mixing.sampling import repeat
from pipeline.config import JobConfig
from pipeline.faults import kill_point
from pipeline.output import RunOutput
from pipeline.phase import PhaseContext, PhaseSummary, digest_of
from pipeline.phases.encode import EncodeSummary
from pipeline.phases.manifest import mixture_funnel, tokens_manifest
from pipeline.phases.tokenizer import TokenizerSummary
from tokenizer.shards import write_token_table


@dataclass
class ShuffleSummary(PhaseSummary):
    funnel: dict
    """The `mixture` entry of the run's funnel (a `StageStats` as JSON)."""


@dataclass
class ShufflePhase:
    config: JobConfig
    encoded: EncodeSummary
    plans: list[SourcePlan]
    tokenizer: TokenizerSummary
    mixture_digest: str
    name = "shuffle"
    Summary = ShuffleSummary

    def digest(self) -> str:
        return digest_of(self.mixture_digest, self.config.mixture.shard_tokens)

    def run(self, context: PhaseContext) -> ShuffleSummary:
        output = context.output
        output.remove("_state", "tokens", "scatter")
        for name in output.list("tokens", suffix=".parquet"):
            output.remove("tokens", name)
        job = ShuffleJob(
            output=output.url,
            plans={plan.source: plan for plan in self.plans},
            shards=self.output_shards(),
            batch_size=self.config.execution.batch_size,
        )
        context.workers()
        job_ref = ray.put(job)
        staged = self.encoded.staged
        scattered = context.run_tasks([(_SCATTER, (name, job_ref)) for name in staged], "scatter")
        shards = range(job.shards)
        written = context.run_tasks([(_GATHER, (shard, job_ref)) for shard in shards], "shuffle")
        output.remove("_state", "tokens", "scatter")
        documents: Counter[str] = Counter()
        for result in scattered:
            documents.update(result.documents)
        train_shards = [shard for shard in written if shard is not None]
        manifest = tokens_manifest(
            self.config, self.tokenizer, self.encoded, self.plans, train_shards, documents
        )
        output.write_json(manifest, "tokens", "manifest.json")
        return ShuffleSummary(mixture_funnel(self.encoded, self.plans, documents).to_json())

    def output_shards(self) -> int:
        """About `shard_tokens` each, and no more than there are rows: a row (a document's
        copy) is never split, so further shards would be empty tasks."""
        tokens = sum(plan.realised_tokens for plan in self.plans)
        rows = sum(plan.realised_documents for plan in self.plans)
        return max(1, min(math.ceil(tokens / self.config.mixture.shard_tokens), rows))


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
            rows = repeat(pa.Table.from_batches([batch]), job.plans, result.documents)
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


# Defined once, so Ray exports each function once per job rather than once per phase run.
_SCATTER = ray.remote(num_cpus=1, max_retries=1)(scatter)
_GATHER = ray.remote(num_cpus=1, max_retries=1)(gather)
