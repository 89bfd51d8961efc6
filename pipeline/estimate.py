"""`tokenmill estimate`: what a job would take, from runs of its config on samples.

The config runs as it is (its stages, models and tokenizer), on one embedded Ray and in
temporary folders, on a few shards of each input as the run would read them (a large file,
or the small files that share a shard: `InputSpec.shard_bytes`), the first documents of
each file (`limit`): on a quarter of the pages while the workers start cold, then on a
quarter and on all of them with the workers warm, so that each cost is fitted as a part
paid once (per task, per phase) plus a part per document, rather than a small sample's
fixed costs being multiplied by the pages. Each input's pages are extrapolated over its
files' sizes at the pages per stored byte of the files sampled (counted whole, or in their
first 16 MB; a Parquet file's rows come from its footer). Then:
- a stage's work on an input: its part per task times the input's shards (what a shard of
  many small files pays per file is in its part per task, as it is in the run's), plus its
  part per document times the documents the stage would get;
- start-up: what the cold sample's workers paid once (loading models), plus the least a
  warm task paid times the shards;
- a global phase: its fixed part plus its part per page times all the pages (the
  tokenizer's training stops growing at `tokenizer.train.sample_documents` documents);
- kept documents and tokens: in proportion to each input's pages; the bytes of the files
  written: a part per shard plus a part per document (or token), fitted as the work is;
- memory: the sample runs' peak (it grows with the workers and the batch size, not with
  the input, but for the dedup phase, which holds every document's signature bands).
"""

from __future__ import annotations

import math
import os
import tempfile
import urllib.parse
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TypeVar

import fsspec
import pyarrow.parquet as pq
from rich.console import Console

from mixing.mixture import requested_epochs
from pipeline.cluster import ray_session
from pipeline.config import JobConfig
from pipeline.console import byte_size, plural
from pipeline.inputs import InputFile, InputShard, input_shards, resolve_inputs
from pipeline.peak_memory import PeakMemory, watched_memory
from pipeline.plan import RunSummary, run_job
from pipeline.readers import read_documents
from pipeline.stats import StageStats

SHARDS_PER_INPUT = 8
"""Shards of each input the samples read, spread over its list."""
SIZED_FILES = 1000
"""Files of an input whose size is asked for; the others count at their mean."""
PREFIX_BYTES = 16 << 20
"""The pages of a sampled file larger than this are counted in this much of its start."""
KEPT_FOLDERS = ("documents/", "removed/")
"""What a run's shards leave in OUT (their segments in _work/ are removed at its end)."""
Item = TypeVar("Item")


@dataclass
class InputEstimate:
    source: str
    format: str
    files: int
    shards: int
    """The shard tasks a run would have (small files share one)."""
    sized_files: int
    stored_bytes: int
    """All its files, as stored; those not sized count at the mean of those sized."""
    sampled_files: int
    sample_pages: int
    """Records the larger sample read (the reader's `docs_in`)."""
    pages: int
    """Records a run would read, estimated."""

    @property
    def scale(self) -> float:
        return self.pages / max(self.sample_pages, 1)


@dataclass
class StageEstimate:
    name: str
    pages_in: int
    kept: int
    core_hours: float


@dataclass
class Estimate:
    pages: int
    """Pages the larger sample read."""
    sample_seconds: float
    """Both samples' runs."""
    workers: int
    inputs: list[InputEstimate]
    stages: list[StageEstimate]
    startup_core_hours: float
    phases: dict[str, float]
    """Global phase → core-hours (its wall time times the workers: at most)."""
    output_bytes: int
    """documents/ (and removed/ with `keep_removed`)."""
    peak_rss_bytes: int
    """All the processes of a sample run at once (driver, Ray, workers, sandboxes)."""
    largest_process_rss_bytes: int
    token_bytes: int = 0
    unique_tokens: dict[str, int] = field(default_factory=dict)
    """Source → training tokens of its kept documents, each once."""
    training_tokens: int = 0
    """What the mixture makes of them (its weights, budget or epochs)."""

    @property
    def core_hours(self) -> float:
        stages = sum(stage.core_hours for stage in self.stages)
        return stages + self.startup_core_hours + sum(self.phases.values())

    def to_json(self) -> dict:
        return {**asdict(self), "core_hours": self.core_hours}


class SampleFailed(Exception):
    """A sample run failed: a full run would fail alike."""


@dataclass
class Sample:
    """One run of the config on the first documents of the files of the chosen shards."""

    summary: RunSummary
    memory: PeakMemory

    @property
    def phases(self) -> dict[str, float]:
        """Global phase → wall seconds."""
        return self.summary.phase_seconds

    @property
    def pages(self) -> int:
        return sum(r.funnel.stages["read"].docs_in for r in self.summary.shards)

    def stage_totals(self, shards: set[str]) -> dict[str, StageStats]:
        """Stage → its counts over the named shards."""
        totals: dict[str, StageStats] = {}
        for result in self.summary.shards:
            if result.shard in shards:
                for name, stats in result.funnel.stages.items():
                    totals.setdefault(name, StageStats()).merge(stats)
        return totals


def estimate(config: JobConfig, pages: int, console: Console) -> Estimate:
    """Run `config` on about `pages` pages (and a quarter of that) and extrapolate to all
    its inputs."""
    files = resolve_inputs(config)
    by_input = [[f for f in files if f.spec is spec] for spec in config.inputs]
    budget = math.ceil(pages / len(by_input))
    chosen = [_chosen(input_shards(input_files), budget) for input_files in by_input]
    per_file = math.ceil(pages / sum(len(s.files) for shards in chosen for s in shards))
    quarter = math.ceil(per_file / 4)
    # The folder outlives the Ray, whose workers may still write to it when Ctrl-C stops a
    # sample; the later samples' workers are warm.
    with (
        tempfile.TemporaryDirectory(prefix="tokenmill-estimate-") as folder,
        embedded(),
        ray_session(config.execution) as workers,
    ):
        cold = _sample(config, chosen, quarter, f"{folder}/1", "1 of 3 (cold workers)", console)
        small = _sample(config, chosen, quarter, f"{folder}/2", "2 of 3", console)
        large = _sample(config, chosen, per_file, f"{folder}/3", "3 of 3", console)
    inputs = [
        _input_estimate(input_files, picked, large, per_file, console)
        for input_files, picked in zip(by_input, chosen, strict=True)
    ]
    return _extrapolated(config, inputs, chosen, workers, cold, small, large)


@contextmanager
def embedded() -> Iterator[None]:
    """A Ray of this process's own, whatever `RAY_ADDRESS` says: the estimate measures this
    machine, and its samples write to temporary folders only it can see."""
    address = os.environ.pop("RAY_ADDRESS", None)
    try:
        yield
    finally:
        if address is not None:
            os.environ["RAY_ADDRESS"] = address


def _sample(
    config: JobConfig,
    chosen: list[list[InputShard]],
    per_file: int,
    output: str,
    title: str,
    console: Console,
) -> Sample:
    """A run of `config` on the `chosen` shards, the first `per_file` documents of each of
    their files."""
    shards = [_limited(shard, per_file) for input_shards in chosen for shard in input_shards]
    files = plural(sum(len(shard.files) for shard in shards), "file")
    console.print(f"sample {title}: at most {per_file:,} documents of each of {files}")
    with watched_memory() as memory:
        summary = run_job(sample_config(config, output), console=console, shards=shards)
    if summary.failed or summary.errored_stages:
        raise SampleFailed(next(iter({**summary.failed, **summary.errored_stages}.values())))
    return Sample(summary, memory)


def _limited(shard: InputShard, per_file: int) -> InputShard:
    """`shard`, reading the first `per_file` documents of each file (or its input's `limit`,
    where fewer)."""
    spec = shard.files[0].spec  # a shard's files are of one input
    spec = spec.model_copy(update={"limit": min(spec.limit or per_file, per_file)})
    return InputShard(shard.name, tuple(replace(f, spec=spec) for f in shard.files))


def sample_config(config: JobConfig, output: str) -> JobConfig:
    """`config` into `output`, its mixture writing every source once, so tokens are counted,
    not multiplied."""
    mixture = config.mixture and config.mixture.model_copy(
        update={"weights": None, "epochs": None, "target_tokens": None, "chinchilla_params": None}
    )
    return config.model_copy(update={"output": output, "mixture": mixture})


def _chosen(shards: list[InputShard], pages: int) -> list[InputShard]:
    """Up to `SHARDS_PER_INPUT` of `shards`, spread over them, holding at most `pages` files
    where more than one would (a sample reads a document of each file at least)."""
    for count in range(min(SHARDS_PER_INPUT, len(shards)), 1, -1):
        chosen = _spread(shards, count)
        if sum(len(shard.files) for shard in chosen) <= pages:
            return chosen
    return shards[:1]


def _spread(items: list[Item], count: int) -> list[Item]:
    """`count` of `items` evenly spaced, the first included (all of them if fewer)."""
    if len(items) <= count:
        return items
    return [items[i * len(items) // count] for i in range(count)]


def _input_estimate(
    files: list[InputFile],
    shards: list[InputShard],
    sample: Sample,
    per_file: int,
    console: Console,
) -> InputEstimate:
    spec = files[0].spec
    results = {result.shard: result for result in sample.summary.shards}
    reads = [results[shard.name].funnel.stages["read"] for shard in shards]
    limit = min(spec.limit or per_file, per_file)
    sampled = [f for shard in shards for f in shard.files]
    sized = _spread(files, SIZED_FILES)
    console.print(f"{spec.source}: sizing {plural(len(sized), 'file')}")
    sizes = _sizes(list({f.path: None for f in [*sized, *sampled]}))
    whole = [
        _shard_pages(shard, sizes, console) if read.kept >= limit else read.docs_in
        for shard, read in zip(shards, reads, strict=True)
    ]
    stored = sum(sizes[f.path] for f in sized) * len(files) / len(sized)
    density = sum(whole) / max(sum(sizes[f.path] for f in sampled), 1)
    pages_per_file = stored / len(files) * density
    if spec.limit is not None:  # the limit counts documents kept; pages are records read
        kept = sum(read.kept for read in reads)
        records = sum(read.docs_in for read in reads)
        pages_per_file = min(pages_per_file, spec.limit * records / max(kept, 1))
    return InputEstimate(
        source=spec.source,
        format=spec.format,
        files=len(files),
        shards=len({f.shard for f in files}),
        sized_files=len(sized),
        stored_bytes=round(stored),
        sampled_files=len(sampled),
        sample_pages=sum(read.docs_in for read in reads),
        pages=round(pages_per_file * len(files)),
    )


def _shard_pages(shard: InputShard, sizes: dict[str, int], console: Console) -> float:
    """The records a run reads of `shard`, whose sample a `limit` may have cut short: each
    of its files counted whole (`_pages_in`)."""
    first = shard.files[0]
    what = first.path if len(shard.files) == 1 else f"the {len(shard.files)} files of {shard}"
    if any(sizes[f.path] > PREFIX_BYTES for f in shard.files):
        what = f"the first {byte_size(PREFIX_BYTES)} of {what}"
    console.print(f"{first.source}: counting the pages of {what}", soft_wrap=True)
    return sum(_pages_in(f, sizes[f.path]) for f in shard.files)


def _pages_in(file: InputFile, size: int) -> float:
    """The records `file`'s reader counts when it reads all of it (no `limit`); for a file
    over `PREFIX_BYTES`, those in its first `PREFIX_BYTES`, in proportion to its size."""
    if file.spec.format == "parquet":
        with fsspec.open(file.path, "rb") as handle:
            return pq.ParquetFile(handle).metadata.num_rows
    if file.spec.format == "text" and file.spec.split_on is None:
        return 1  # a document per file
    whole = replace(file, spec=file.spec.model_copy(update={"limit": None}))
    if size <= PREFIX_BYTES:
        return _records(whole)
    with tempfile.TemporaryDirectory(prefix="tokenmill-estimate-") as folder:
        prefix = Path(folder) / PurePosixPath(urllib.parse.urlparse(file.path).path).name
        with fsspec.open(file.path, "rb") as source:  # the name keeps its compression
            prefix.write_bytes(source.read(PREFIX_BYTES))
        return _records(replace(whole, path=str(prefix))) * size / PREFIX_BYTES


def _records(file: InputFile) -> int:
    stats = StageStats()
    deque(read_documents(file, stats, batch_size=4096), maxlen=0)  # read for its counts
    return stats.docs_in


def _sizes(paths: list[str]) -> dict[str, int]:
    """Path → size as stored (asked in parallel, for object stores)."""

    def size(path: str) -> int:
        fs, stripped = fsspec.core.url_to_fs(path)
        try:
            return fs.size(stripped) or 0
        except FileNotFoundError:  # a manifest's missing file: a run counts it, reads nothing
            return 0

    with ThreadPoolExecutor(16) as pool:
        return dict(zip(paths, pool.map(size, paths), strict=True))


def fitted(small: tuple[float, float], large: tuple[float, float]) -> tuple[float, float]:
    """A cost measured as (units, cost) twice, as (fixed part, part per unit): the line
    through both points, held to pass at or below the larger with neither part below 0."""
    (units, cost), (more_units, more_cost) = small, large
    most = more_cost / more_units if more_units else 0.0
    slope = (more_cost - cost) / (more_units - units) if more_units > units else most
    per_unit = min(max(slope, 0.0), most)
    return more_cost - per_unit * more_units, per_unit


def _extrapolated(
    config: JobConfig,
    inputs: list[InputEstimate],
    chosen: list[list[InputShard]],
    workers: int,
    cold: Sample,
    small: Sample,
    large: Sample,
) -> Estimate:
    stages: dict[str, StageEstimate] = {}
    output_bytes = 0.0
    for source, shards in zip(inputs, chosen, strict=True):
        names = {shard.name for shard in shards}
        before = small.stage_totals(names)
        for name, stats in large.stage_totals(names).items():
            earlier = before.get(name, StageStats())
            fixed, per_document = fitted(
                (earlier.docs_in, earlier.elapsed_s), (stats.docs_in, stats.elapsed_s)
            )
            seconds = fixed * source.shards / len(shards)
            seconds += per_document * stats.docs_in * source.scale
            entry = stages.setdefault(name, StageEstimate(name, 0, 0, 0.0))
            entry.pages_in += round(stats.docs_in * source.scale)
            entry.kept += round(stats.kept * source.scale)
            entry.core_hours += seconds / 3600
        fixed, per_document = fitted(_kept_bytes(small, names), _kept_bytes(large, names))
        documents = sum(r.documents for r in large.summary.shards if r.shard in names)
        output_bytes += fixed * source.shards / len(shards)
        output_bytes += per_document * documents * source.scale
    result = Estimate(
        pages=large.pages,
        sample_seconds=sum(s.summary.report["elapsed_s"] for s in (cold, small, large)),
        workers=workers,
        inputs=inputs,
        stages=list(stages.values()),
        startup_core_hours=_startup_seconds(cold, large, sum(i.shards for i in inputs)) / 3600,
        phases=_phase_core_hours(config, inputs, small, large, workers),
        output_bytes=round(output_bytes),
        peak_rss_bytes=max(s.memory.total for s in (cold, small, large)),
        largest_process_rss_bytes=max(s.memory.largest for s in (cold, small, large)),
    )
    if large.summary.report.get("tokens"):
        _add_tokens(result, config, inputs, small, large)
    return result


def _kept_bytes(sample: Sample, names: set[str]) -> tuple[int, int]:
    """The documents the named shards kept, and the bytes of what they left in OUT."""
    shards = [r for r in sample.summary.shards if r.shard in names]
    written = sum(
        entry["size"]
        for result in shards
        for path, entry in result.files.items()
        if path.startswith(KEPT_FOLDERS)
    )
    return sum(r.documents for r in shards), written


def _startup_seconds(cold: Sample, warm: Sample, tasks: int) -> float:
    """Each stage's start-up: what the workers of the `cold` sample paid once (its excess
    over what its tasks would have paid warm), plus the least a task of the `warm` sample
    paid for each of `tasks` tasks. (The least a cold task paid is no warm task's cost where
    each cold task had a worker of its own.)"""
    seconds = 0.0
    for name in {name for r in cold.summary.shards for name in r.funnel.stages}:
        once, per_task = (
            [
                r.funnel.stages[name].startup_s
                for r in sample.summary.shards
                if name in r.funnel.stages
            ]
            for sample in (cold, warm)
        )
        least = min(per_task, default=0.0)
        seconds += max(sum(once) - least * len(once), 0.0) + least * tasks
    return seconds


def _phase_core_hours(
    config: JobConfig, inputs: list[InputEstimate], small: Sample, large: Sample, workers: int
) -> dict[str, float]:
    pages = sum(i.pages for i in inputs)
    hours = {}
    for name, seconds in large.phases.items():
        fixed, per_page = fitted((small.pages, small.phases.get(name, 0.0)), (large.pages, seconds))
        drawn = pages
        if name == "tokenizer" and config.tokenizer_config().train is not None:
            documents_per_page = large.summary.report["documents"] / max(large.pages, 1)
            cap = config.tokenizer_config().train.sample_documents / max(documents_per_page, 1e-9)
            drawn = min(pages, max(cap, large.pages))
        hours[name] = (fixed + per_page * drawn) * workers / 3600
    return hours


def _add_tokens(
    result: Estimate, config: JobConfig, inputs: list[InputEstimate], small: Sample, large: Sample
) -> None:
    scale = {i.source: i.scale for i in inputs}
    sampled = {entry["source"]: entry for entry in large.summary.report["tokens"]["mixture"]}
    result.unique_tokens = {
        source: round(entry["available_tokens"] * scale[source])
        for source, entry in sampled.items()
    }
    epochs = requested_epochs(config.mixture, result.unique_tokens)
    result.training_tokens = round(
        sum(epochs[source] * count for source, count in result.unique_tokens.items())
    )
    val_tokens = sum(entry["val_tokens"] * scale[source] for source, entry in sampled.items())
    fixed, per_token = fitted(_token_bytes(small), _token_bytes(large))
    result.token_bytes = round(fixed + per_token * (result.training_tokens + val_tokens))


def _token_bytes(sample: Sample) -> tuple[int, int]:
    """The tokens `sample` wrote (training and validation), and the bytes of their shards."""
    tokens = sample.summary.report["tokens"]
    written = sum(shard["size"] for shard in tokens["shard_files"])
    return tokens["train"]["tokens"] + tokens["val"]["tokens"], written
