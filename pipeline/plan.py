"""The Ray plan: one task per input file runs every per-document stage and writes its shard.

Tasks are submitted with a bounded number in flight (backpressure: at most twice the
workers), each task streams its file batch by batch, and finished shards are recorded in
the run state as they complete, so a killed run resumes where it stopped. A shard whose
task fails is reported and left unfinished for the next run; the others go on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.cluster import ray_session
from pipeline.config import JobConfig
from pipeline.documents import document_schema
from pipeline.inputs import InputFile, resolve_inputs
from pipeline.manifest import build_manifest, utc_now
from pipeline.output import RunOutput
from pipeline.report import build_report
from pipeline.shard import ShardPlan, process_shard
from pipeline.stages import STAGE_TYPES
from pipeline.state import RunState


@dataclass
class RunSummary:
    output: RunOutput
    report: dict
    failed: dict[str, str] = field(default_factory=dict)
    """Shard name → traceback of the task that failed it."""


def shard_plan(config: JobConfig) -> ShardPlan:
    fields = [f for spec in config.stages for f in STAGE_TYPES[spec.name].fields]
    return ShardPlan(
        output=config.output,
        stages=tuple(config.stages),
        schema=document_schema(fields),
        keep_removed=config.keep_removed,
        batch_size=config.execution.batch_size,
    )


def run_job(
    config: JobConfig,
    address: str | None = None,
    fresh: bool = False,
    console: Console | None = None,
) -> RunSummary:
    console = console or Console(stderr=True)
    started, clock = utc_now(), time.perf_counter()
    files = resolve_inputs(config)
    output = RunOutput(config.output)
    state = RunState.open(output, config, fresh=fresh)
    done = {file.shard: result for file in files if (result := state.finished(file))}
    todo = [file for file in files if file.shard not in done]
    if done:
        console.print(f"resuming: {len(done)} of {len(files)} shards already finished")
    failed: dict[str, str] = {}
    if todo:
        with ray_session(config.execution, address) as workers:
            for result in _run_tasks(todo, shard_plan(config), workers, failed, console):
                state.record(result)
                done[result.shard] = result
    results = [done[file.shard] for file in files if file.shard in done]
    report = build_report(config.name, results, time.perf_counter() - clock)
    output.write_json(report, "report", "report.json")
    output.write_json(build_manifest(config, results, started, utc_now()), "manifest.json")
    return RunSummary(output=output, report=report, failed=failed)


def _run_tasks(
    files: list[InputFile], plan: ShardPlan, workers: int, failed: dict[str, str], console: Console
):
    task = ray.remote(process_shard).options(num_cpus=1, max_retries=1)
    plan_ref = ray.put(plan)
    pending: dict[ray.ObjectRef, InputFile] = {}
    queue = list(files)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[docs]:,} documents"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("shards", total=len(files), docs=0)
        documents = 0
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                file = queue.pop(0)
                pending[task.remote(file, plan_ref)] = file
            [ready], _ = ray.wait(list(pending), num_returns=1)
            file = pending.pop(ready)
            try:
                result = ray.get(ready)
            except Exception:  # the task failed as a whole; the run goes on without it
                failed[file.shard] = traceback.format_exc()
                console.print(f"[red]shard {file.shard} ({file.path}) failed[/red]")
                progress.advance(bar)
                continue
            documents += result.documents
            progress.update(bar, advance=1, docs=documents)
            yield result
