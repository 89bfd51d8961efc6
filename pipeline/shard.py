"""One shard task: read an input file (or several small ones), run the per-document stages,
write its shards.

A plan with a global stage (dedup) runs in segments: the first segment reads the input
files and writes its shard to `OUT/_work/segment-0/`; a later segment reads that shard back,
applies the global stage's decisions, runs the stages after it, and writes
`OUT/documents/` (or the next `_work` folder). Each segment is one shard task.

Runs inside a Ray worker. Batches stream through the stages and into a Parquet writer, so
a shard never holds more than one batch per stage in memory. The fetched pages a WARC's
batches carry (`RAW_COLUMNS`: HTML, HTTP headers) are dropped after the last stage that
reads them, and are never written. A stage that raises on a
batch is retried document by document, and only the documents that still raise are
errored (`<stage>_error`, with the exception's line as the sample's detail). A stage with
a time budget (`TimeBudget` params) runs in its sandbox, a child process that is killed
when a group of documents runs past the budget (pipeline/sandbox.py); that group too is
retried document by document, each with the same budget, and a document that alone runs
past it is errored `<stage>_timeout`. When none does, the group was slow rather than one
of its documents (a slow language's segmenter, long pages), and the sandbox's later groups
are half the size; groups that take under a quarter of the budget double, up to 256
documents (`GroupSizes`). A stage that judges each language apart (`group_by`) gets each
language's documents of a batch together, in groups of that language alone sized for it,
and its verdict back in the batch's order.
The shard's Parquet files are renamed into place only when complete, and what an earlier
segment wrote is checked against its sha256 before it is read; the shard's counts, samples,
the profile of what it kept and what it wrote come back as a `ShardResult`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.checksums import describe_file, verify_file
from pipeline.config import StageSpec
from pipeline.documents import RAW_COLUMNS, conform, removed_schema, text_bytes, without
from pipeline.domains import SHARD_DOMAINS
from pipeline.faults import kill_point
from pipeline.inputs import InputFile, InputShard
from pipeline.output import WORK, RunOutput
from pipeline.pandas_probe import skip_pandas_probe
from pipeline.profile import BASE_NAMES, Profile
from pipeline.readers import read_documents
from pipeline.sample import lowest, shard_rng
from pipeline.sandbox import GroupSizes, Sandbox, SandboxError, StageTimeout, sandboxed
from pipeline.stage import Stage, TimeBudget, Verdict
from pipeline.stage_registry import STAGE_TYPES
from pipeline.stats import SAMPLES_PER_REASON, Funnel, StageStats
from pipeline.transient import retried

CAUSE_CHARS = 300
"""An errored document's detail is at most this long: the exception's first line."""


@dataclass(frozen=True)
class ShardPlan:
    """What every shard task of one segment needs to know; small and picklable."""

    output: str
    stages: tuple[StageSpec, ...]
    """This segment's per-document stages."""
    schema: pa.Schema
    keep_removed: bool
    batch_size: int
    segment: int = 0
    after: StageSpec | None = None
    """The global stage whose decisions this segment applies before its own stages."""
    last: bool = True
    """The last segment writes OUT/documents/; the others OUT/_work/segment-<n>/."""

    def destination(self, shard: str) -> tuple[str, ...]:
        return ("documents", f"{shard}.parquet") if self.last else segment_file(self.segment, shard)

    def removed_name(self, shard: str) -> str:
        return f"{shard}.{self.after.name}.parquet" if self.after else f"{shard}.parquet"


def segment_folder(segment: int) -> tuple[str, ...]:
    return (WORK, f"segment-{segment}")


def segment_file(segment: int, shard: str) -> tuple[str, ...]:
    """Where segment `segment` (not the last) writes `shard`, for the next one to read."""
    return (*segment_folder(segment), f"{shard}.parquet")


@dataclass
class ShardResult:
    shard: str
    inputs: dict[str, dict[str, Any]]
    """The input files it read, in order: path → size, date or ETag (once read)."""
    funnel: Funnel
    documents: int = 0
    text_bytes: int = 0
    profile: Profile = field(default_factory=Profile)
    """The kept documents' sources, languages, signal histograms and a sample."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What it wrote (path in OUT → size, date or ETag, sha256), checked when read again."""

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "inputs": self.inputs,
            "documents": self.documents,
            "text_bytes": self.text_bytes,
            "files": self.files,
            "funnel": self.funnel.to_json(),
            "profile": self.profile.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardResult:
        return cls(
            shard=data["shard"],
            inputs=data["inputs"],
            funnel=Funnel.from_json(data["funnel"]),
            documents=data["documents"],
            text_bytes=data["text_bytes"],
            profile=Profile.from_json(data["profile"]) if "profile" in data else Profile(),
            files=data.get("files", {}),
        )

    @classmethod
    def merged(cls, parts: list[ShardResult]) -> ShardResult:
        """One shard's segments as one result: the funnel in plan order, the last output."""
        funnel = Funnel()
        for part in parts:
            funnel.merge(part.funnel)
        return cls(
            shard=parts[0].shard,
            inputs=parts[0].inputs,
            funnel=funnel,
            documents=parts[-1].documents,
            text_bytes=parts[-1].text_bytes,
            profile=parts[-1].profile,
            files={path: info for part in parts for path, info in part.files.items()},
        )


def process_shard_retried(
    shard: InputShard, plan: ShardPlan, source: dict | None = None
) -> ShardResult:
    """`process_shard`, run again from the start where reading failed in a way that passes
    (a cut connection, a server's 503: `pipeline.transient`)."""
    return retried(lambda: process_shard(shard, plan, source), f"shard {shard}")


def process_shard(shard: InputShard, plan: ShardPlan, source: dict | None = None) -> ShardResult:
    """Run one segment of the plan on `shard`; `source`: what the segment before recorded
    of the file it wrote, which this one reads (checked before it is)."""
    skip_pandas_probe()
    funnel = Funnel()
    output = RunOutput(plan.output)
    read_stats = funnel.stage("read") if plan.segment == 0 else None
    stages, leave_out = [], []
    if plan.after is not None:
        stages.append(_timed_start(funnel, plan.after.name, lambda: _applied(plan, shard, output)))
        leave_out.append(())
    unread = unread_raw_columns(plan.stages)
    for spec, columns in zip(plan.stages, unread[1:], strict=True):
        stages.append(_timed_start(funnel, spec.name, partial(build_stage, spec, columns)))
        leave_out.append(columns)
    # Reading time starts here: building the stages is their start-up, not reading.
    started, built = time.perf_counter(), _stage_seconds(funnel, stages)
    result = ShardResult(shard=shard.name, inputs={path: {} for path in shard.paths}, funnel=funnel)
    rng = shard_rng(f"{shard.name}/{plan.segment}")
    written = {}
    with ExitStack() as stack:
        destination = plan.destination(shard.name)
        written[destination] = stack.enter_context(output.atomic(*destination))
        writer = stack.enter_context(
            pq.ParquetWriter(written[destination], plan.schema, compression="zstd")
        )
        removed_writer = None
        if plan.keep_removed:
            removed = ("removed", plan.removed_name(shard.name))
            written[removed] = stack.enter_context(output.atomic(*removed))
            removed_writer = stack.enter_context(
                pq.ParquetWriter(written[removed], removed_schema(plan.schema), compression="zstd")
            )
        if read_stats is not None:
            batches = read_files(shard.files, read_stats, plan.batch_size)
        else:
            batches = read_segment(output, plan.segment - 1, shard.name, plan.batch_size, source)
        for batch in batches:
            batch = without(batch, unread[0])
            for stage, columns in zip(stages, leave_out, strict=True):
                kept = apply_stage(stage, batch, funnel, removed_writer, plan.schema, rng)
                batch = without(kept, columns)
            batch = conform(batch, plan.schema)
            writer.write_table(batch)
            if plan.last:
                result.profile.add(batch, rng.random(batch.num_rows))
                funnel.domains.add_kept(batch)
            result.documents += batch.num_rows
            result.text_bytes += text_bytes(batch)
            kill_point("shard")
    result.files = {"/".join(parts): sink.written for parts, sink in written.items()}
    funnel.domains = funnel.domains.largest(SHARD_DOMAINS)
    if read_stats is not None:
        stage_time = _stage_seconds(funnel, stages) - built
        read_stats.elapsed_s = time.perf_counter() - started - stage_time
        result.inputs = {path: describe_file(path) for path in shard.paths}
    return result


def read_files(
    files: tuple[InputFile, ...], stats: StageStats, batch_size: int
) -> Iterator[pa.Table]:
    """The documents of `files`, in order, in batches of `batch_size` across files: a shard
    of small files runs its stages on full batches, not one per file."""
    held: list[pa.Table] = []
    rows = 0
    for file in files:
        for batch in read_documents(file, stats, batch_size):
            held.append(batch)
            rows += batch.num_rows
            if rows >= batch_size:
                yield pa.concat_tables(held)
                held, rows = [], 0
    if held:
        yield pa.concat_tables(held)


def _stage_seconds(funnel: Funnel, stages: list[Stage]) -> float:
    """Seconds the stages have counted so far, start-up and work."""
    return sum(funnel.stages[s.name].startup_s + funnel.stages[s.name].elapsed_s for s in stages)


def _timed_start(funnel: Funnel, name: str, start: Callable[[], Stage]) -> Stage:
    started = time.perf_counter()
    stage = start()
    funnel.stage(name).startup_s += time.perf_counter() - started
    return stage


def _applied(plan: ShardPlan, shard: InputShard, output: RunOutput) -> Stage:
    """The stage that applies the global phase before this segment to `shard`."""
    return STAGE_TYPES[plan.after.name](plan.after.params).for_shard(output, shard.name)


def unread_raw_columns(specs: tuple[StageSpec, ...]) -> list[tuple[str, ...]]:
    """The raw columns (`RAW_COLUMNS`) no stage reads, then after each stage those no later
    stage reads: each is dropped as soon as it is no longer needed."""
    reads = [STAGE_TYPES[spec.name].reads for spec in specs]
    return [
        tuple(c for c in RAW_COLUMNS if not any(c in later for later in reads[position:]))
        for position in range(len(specs) + 1)
    ]


def build_stage(spec: StageSpec, leaves_out: tuple[str, ...] = ()) -> Stage:
    """The stage `spec` names, loaded; one with a time budget runs in this process's sandbox
    for it (whose child loads it, and leaves `leaves_out` out of the batches it sends back)."""
    stage_type = STAGE_TYPES[spec.name]
    if isinstance(spec.params, TimeBudget):
        return sandboxed(stage_type, spec.params, leaves_out)
    stage = stage_type(spec.params)
    stage.try_load()
    return stage


def read_segment(
    output: RunOutput, segment: int, shard: str, batch_size: int, recorded: dict
) -> Iterator[pa.Table]:
    """The shard an earlier segment wrote, batch by batch, once checked to be what it wrote."""
    parts = segment_file(segment, shard)
    verify_file(output.url_of(*parts), recorded)
    with output.fs.open(output.path(*parts), "rb") as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])


def apply_stage(
    stage: Stage,
    batch: pa.Table,
    funnel: Funnel,
    removed_writer: pq.ParquetWriter | None,
    schema: pa.Schema,
    rng: np.random.Generator,
) -> pa.Table:
    """Run `stage` on `batch`, count its verdict, and return the documents it keeps."""
    stats = funnel.stage(stage.name)
    stats.docs_in += batch.num_rows
    stats.bytes_in += text_bytes(batch)
    if batch.num_rows == 0:
        return batch
    # Documents read back after a global phase carry every annotation column (null so far);
    # the stage adds its own afresh.
    own = [field.name for field in stage.fields if field.name in batch.column_names]
    batch = batch.drop_columns(own)
    started = time.perf_counter()
    verdict, loading = _decide(stage, batch)
    stats.startup_s += loading
    stats.elapsed_s += time.perf_counter() - started - loading
    stats.counters.update(verdict.counters)
    rows = verdict.table.num_rows
    errored = _reasons(verdict.errored, rows)
    removed = pc.if_else(pc.is_null(errored), _reasons(verdict.removed, rows), None)
    _count(errored, stats.errored)
    _count(removed, stats.removed)
    reason = pc.coalesce(errored, removed)
    keep = pc.is_null(reason)
    if not pc.all(keep).as_py():
        dropped = pc.invert(keep)
        _record_dropped(
            stage.name,
            _with_details(verdict).filter(dropped),
            reason.filter(dropped),
            funnel,
            removed_writer,
            schema,
            rng,
        )
    kept = verdict.table.filter(keep)
    stats.kept += kept.num_rows
    stats.bytes_kept += text_bytes(kept)
    return kept


def _with_details(verdict: Verdict) -> pa.Table:
    """The verdict's table with its `details` as a column, for the removed samples."""
    if verdict.details is None:
        return verdict.table
    return verdict.table.append_column("detail", verdict.details.cast(pa.string()))


def _reasons(column: pa.Array | None, rows: int) -> pa.Array:
    return pa.nulls(rows, pa.string()) if column is None else column.cast(pa.string())


def _count(reasons: pa.Array, counter: Counter[str]) -> None:
    for entry in pc.value_counts(pc.drop_null(reasons)).to_pylist():
        counter[entry["values"]] += entry["counts"]


def _decide(stage: Stage, batch: pa.Table) -> tuple[Verdict, float]:
    """The stage's verdict on `batch`, and the seconds its sandbox spent meanwhile loading
    what the batch needed (start-up, not work). A stage with a time budget gets it in groups
    (`timed_groups`), each with the whole budget."""
    if not isinstance(stage, Sandbox):
        return _decide_group(stage, batch), 0.0
    order = grouped_order(batch, stage.stage_type.group_by)
    if order is not None:
        batch = batch.take(order)
    verdicts, loading = [], 0.0
    for key, group in timed_groups(batch, stage.stage_type.group_by, stage.group_sizes):
        started = time.perf_counter()
        verdicts.append(_decide_group(stage, group, key))
        loaded = stage.took_loading()
        stage.group_sizes.fitted(key, group.num_rows, time.perf_counter() - started - loaded)
        loading += loaded
    verdict = _joined(verdicts)
    return (verdict if order is None else verdict.take(np.argsort(order))), loading


def grouped_order(batch: pa.Table, column: str | None) -> np.ndarray | None:
    """The rows of `batch` with equal values of `column` together, each value's in their
    order (a stable sort, nulls last); None where there is no such column, Arrow cannot sort
    it, or the rows are so already."""
    values = _sortable(batch, column)
    if values is None:
        return None
    try:
        order = pc.sort_indices(values).to_numpy()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a type Arrow cannot sort
        return None
    return None if np.array_equal(order, np.arange(len(order))) else order


def timed_groups(
    batch: pa.Table, column: str | None, sizes: GroupSizes
) -> Iterator[tuple[Hashable, pa.Table]]:
    """`batch` (ordered by `grouped_order`) in consecutive groups, each of one value of
    `column` (None for all where there is no such column, or its values have no order) and
    of `sizes.of(value)` documents at most, asked as each group is taken: a caller that
    tells `sizes` how the last group went sizes the next."""
    start = 0
    for end, key in _runs(batch, column):
        while start < end:
            group = batch.slice(start, min(sizes.of(key), end - start))
            yield key, group
            start += group.num_rows


def _runs(batch: pa.Table, column: str | None) -> list[tuple[int, Hashable]]:
    """Where each run of equal `column` values ends, and its value; one run of None where
    there is no such column or its values have no order."""
    values = _sortable(batch, column)
    if values is None or batch.num_rows == 0:
        return [(batch.num_rows, None)]
    runs = pc.run_end_encode(values.combine_chunks())
    return list(zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True))


def _sortable(batch: pa.Table, column: str | None) -> pa.ChunkedArray | None:
    """`column` of `batch`, dictionaries decoded (Arrow sorts none), if it has one of a type
    whose values can be ordered."""
    if column is None or column not in batch.column_names:
        return None
    values = batch.column(column)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return None if pa.types.is_nested(values.type) else values


def _decide_group(stage: Stage, batch: pa.Table, key: Hashable = None) -> Verdict:
    try:
        return stage.process(batch)
    except StageTimeout:
        verdict = _decide_one_by_one(stage, batch)
        if f"{stage.name}_timeout" not in _reasons(verdict.errored, batch.num_rows).to_pylist():
            stage.group_sizes.slowed(key, batch.num_rows)
        return verdict
    except Exception:
        return _decide_one_by_one(stage, batch)


def _decide_one_by_one(stage: Stage, batch: pa.Table) -> Verdict:
    """Isolate the documents that break `stage`: each becomes errored `<stage>_timeout` or
    `<stage>_error`."""
    verdicts = []
    for row in range(batch.num_rows):
        single = batch.slice(row, 1)
        try:
            verdicts.append(stage.process(single))
        except StageTimeout:  # this document alone runs past the stage's time budget
            verdicts.append(Verdict(single, errored=pa.array([f"{stage.name}_timeout"])))
        except Exception as err:  # this document alone breaks the stage
            errored, cause = pa.array([f"{stage.name}_error"]), pa.array([_error_cause(err)])
            verdicts.append(Verdict(single, errored=errored, details=cause))
    return _joined(verdicts)


def _error_cause(err: Exception) -> str:
    """One line on why a document errored, kept as its sample's detail: the exception, or
    for a stage that raised in its sandbox, the last line of the child's traceback."""
    text = str(err).strip()
    if isinstance(err, SandboxError) and "\n" in text:
        line = text.splitlines()[-1]
    else:
        line = f"{type(err).__name__}: {text}".splitlines()[0]
    return line[:CAUSE_CHARS]


def _joined(verdicts: list[Verdict]) -> Verdict:
    """Verdicts on consecutive parts of a batch, as one."""
    if len(verdicts) == 1:
        return verdicts[0]
    table = pa.concat_tables([v.table for v in verdicts], promote_options="permissive")
    counters: Counter[str] = Counter()
    for verdict in verdicts:
        counters.update(verdict.counters)
    return Verdict(
        table,
        removed=pa.concat_arrays([_reasons(v.removed, v.table.num_rows) for v in verdicts]),
        errored=pa.concat_arrays([_reasons(v.errored, v.table.num_rows) for v in verdicts]),
        details=pa.concat_arrays([_reasons(v.details, v.table.num_rows) for v in verdicts]),
        counters=dict(counters),
    )


def _record_dropped(
    stage: str,
    dropped: pa.Table,
    reasons: pa.Array,
    funnel: Funnel,
    removed_writer: pq.ParquetWriter | None,
    schema: pa.Schema,
    rng: np.random.Generator,
) -> None:
    """Count their bytes and sample them by reason; with keep_removed, write them all."""
    stats = funnel.stage(stage)
    funnel.domains.add_dropped(stage, dropped, reasons)
    signals = [
        f.name for f in schema if f.name not in BASE_NAMES and f.name in dropped.column_names
    ]
    ranks = rng.random(dropped.num_rows)
    for reason in pc.unique(reasons).to_pylist():
        matches = pc.equal(reasons, reason)
        documents = dropped.filter(matches)
        stats.bytes_dropped[reason] += text_bytes(documents)
        chosen = ranks[matches.to_numpy(zero_copy_only=False)]
        funnel.add_samples(stage, reason, lowest(documents, chosen, SAMPLES_PER_REASON, signals))
    if removed_writer is not None:
        table = conform(dropped, schema)
        table = table.append_column("stage", pa.array([stage] * table.num_rows, pa.string()))
        table = table.append_column("reason", reasons)
        removed_writer.write_table(conform(table, removed_writer.schema))
