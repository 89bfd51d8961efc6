"""The `encode` phase: one Ray task per documents shard encodes it once, holds out the
validation documents straight into OUT/tokens/val/, keeps the training documents' tokens for
the shuffle in OUT/_state/tokens/encoded/, and returns their counts by source and sampling
bucket: all the mixture plan needs, in a few KB.

The validation split is drawn per document (a seeded draw below `mixture.validation`, before
any up-sampling), so each source gives its share; and each source with at least two
documents gives at least one, its document with the smallest draw, which a first pass over
the shards' texts finds. Draws hash the text (`mixing.keys`), not the id, so the same
inputs split alike wherever they are read from. Without it a small source could get no validation documents at all,
and validation loss would not cover it.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from tokenizers import Tokenizer

from mixing.config import MixtureConfig
from mixing.counts import count_training, count_validation, shard_summary
from mixing.keys import VALIDATION, derive, text_keys, uniform
from mixing.mixture import SourceCounts
from pipeline.checksums import verify_file
from pipeline.faults import kill_point
from pipeline.output import RunOutput
from pipeline.phase import PhaseContext, PhaseSummary, digest_of
from pipeline.phases.tokenizer import TokenizerSummary
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
"""Staged training documents: the token columns plus the text's seeded key."""


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
    always_held_out: tuple[int, ...] = ()
    """Validation draws of documents held out whatever the draw (each source's smallest)."""


def smallest_draws(name: str, recorded: dict, job: EncodeJob) -> dict[str, tuple[int, int]]:
    """Per source in documents shard `name`: its documents and its smallest validation draw."""
    output = RunOutput(job.output)
    verify_file(output.url_of("documents", name), recorded)
    with output.fs.open(output.path("documents", name), "rb") as documents:
        table = pq.read_table(documents, columns=["source", "text"])
    table = table.filter(pc.is_valid(table.column("text")))
    draws = _validation_draws(text_keys(table.column("text"), job.seed))
    sources = table.column("source").to_numpy(zero_copy_only=False).astype(str)
    return {
        source: (int(np.sum(sources == source)), int(draws[sources == source].min()))
        for source in np.unique(sources)
    }


def _validation_draws(keys: np.ndarray) -> np.ndarray:
    return derive(keys, VALIDATION)


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
            draws = _validation_draws(table.column("key").to_numpy())
            held_out = (uniform(draws) < job.validation) | np.isin(
                draws, np.array(job.always_held_out, np.uint64)
            )
            train = table.filter(pa.array(~held_out))
            writer.write_table(train)
            kill_point("tokens.encode")
            count_training(train, result.counts)
            val = table.filter(pa.array(held_out))
            val_parts.append(val)
            count_validation(val, result.counts)
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
            "key": text_keys(batch.column("text"), seed),
        },
        schema=ENCODED_SCHEMA,
    )


@dataclass
class EncodeSummary(PhaseSummary):
    documents: int
    errored: dict[str, int]
    counts: dict[str, dict]
    """Per source, its `SourceCounts` as JSON."""
    val_shards: list[dict]
    """What the tokens manifest says of each validation shard."""
    staged: list[str]
    """The documents shards whose training tokens wait in OUT/_state/tokens/encoded/."""

    def source_counts(self) -> dict[str, SourceCounts]:
        return {source: SourceCounts.from_json(c) for source, c in self.counts.items()}


@dataclass
class EncodePhase:
    mixture: MixtureConfig
    documents: dict[str, dict]
    """The documents shards: name → what the run recorded writing it."""
    tokenizer: TokenizerSummary
    tokenizer_json: str
    plan_digest: str
    batch_size: int
    name = "encode"
    Summary = EncodeSummary

    def digest(self) -> str:
        mixture = self.mixture
        return digest_of(self.plan_digest, self.tokenizer.sha256, mixture.seed, mixture.validation)

    def run(self, context: PhaseContext) -> EncodeSummary:
        output = context.output
        output.remove("tokens")
        output.remove("_state", "tokens")
        job = EncodeJob(
            output.url,
            self.tokenizer_json,
            self.mixture.seed,
            self.mixture.validation,
            self.batch_size,
        )
        shards = sorted(self.documents)
        context.workers()
        if job.validation > 0:
            job = replace(job, always_held_out=self._smallest_draws(context, shards, job))
        job_ref = ray.put(job)
        calls = [(_ENCODE, (name, self.documents[name], job_ref)) for name in shards]
        results: list[EncodeResult] = context.run_tasks(calls, "encode")
        counts: dict[str, SourceCounts] = {}
        errored: Counter[str] = Counter()
        for result in results:
            errored.update(result.errored)
            for source, entry in result.counts.items():
                counts.setdefault(source, SourceCounts()).merge(entry)
        val_shards = [r.val_shard for r in results if r.val_shard]
        return EncodeSummary(
            documents=sum(r.documents for r in results),
            errored=dict(+errored),
            counts={source: counts[source].to_json() for source in sorted(counts)},
            val_shards=sorted(val_shards, key=lambda s: s["path"]),
            staged=shards,
        )

    def _smallest_draws(
        self, context: PhaseContext, shards: list[str], job: EncodeJob
    ) -> tuple[int, ...]:
        """Each source's smallest validation draw, where the source has two documents or more."""
        job_ref = ray.put(job)
        calls = [(_DRAWS, (name, self.documents[name], job_ref)) for name in shards]
        per_source: dict[str, tuple[int, int]] = {}
        for found in context.run_tasks(calls, "validation draw"):
            for source, (documents, smallest) in found.items():
                seen, least = per_source.get(source, (0, smallest))
                per_source[source] = (seen + documents, min(least, smallest))
        return tuple(sorted(least for seen, least in per_source.values() if seen >= 2))


# Defined once, so Ray exports the function once per job rather than once per phase run.
_ENCODE = ray.remote(num_cpus=1, max_retries=1)(encode_shard)
_DRAWS = ray.remote(num_cpus=1, max_retries=1)(smallest_draws)
