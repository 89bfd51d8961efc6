"""The Ray plan: shard tasks for the per-document stages, phases for the global ones.

The stage list is cut into segments at every global stage (dedup). Each segment is one Ray
task per shard, submitted with a bounded number in flight (backpressure: at most twice the
workers); each task streams its shard batch by batch, and finished shards are recorded in
the run state as they complete, so a killed run resumes where it stopped. Between two
segments the global stage runs as a phase over every shard the first one wrote, and is
recorded as a whole. A shard whose task fails is reported and left unfinished for the next
run; the others go on, but a global phase waits until every shard before it has finished.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

import ray
from rich.console import Console

from pipeline.cluster import cluster_address, ray_session
from pipeline.config import JobConfig, StageSpec
from pipeline.console import plain_console
from pipeline.documents import document_schema
from pipeline.faults import kill_point
from pipeline.inputs import InputShard, input_shards, resolve_inputs
from pipeline.manifest import build_manifest, utc_now
from pipeline.output import WORK, RunOutput, check_output
from pipeline.output_lock import locked
from pipeline.pandas_probe import skip_pandas_probe
from pipeline.phase import PhaseContext
from pipeline.phases.tokens import build_tokens
from pipeline.report.build import build_report, write_report
from pipeline.sample import EXCERPT_CHARS
from pipeline.schema import ConfigError
from pipeline.shard import (
    ShardPlan,
    ShardResult,
    process_shard_retried,
    segment_file,
    segment_folder,
)
from pipeline.shared_paths import refuse_unshared_run
from pipeline.stage import GlobalStage
from pipeline.stage_registry import STAGE_TYPES
from pipeline.state import RunState
from pipeline.stats import StageStats
from pipeline.tasks import TaskFailed, completed, progress_bar, run_tasks


@dataclass
class RunSummary:
    output: RunOutput
    report: dict
    failed: dict[str, str] = field(default_factory=dict)
    """Shard name → traceback of the task that failed it."""
    errored_stages: dict[str, str] = field(default_factory=dict)
    """Stage name → why its errors fail the run (`errored_stages`); `tokens` → why the token
    phases could not run (`NOTHING_TO_TOKENIZE`)."""
    shards: list[ShardResult] = field(default_factory=list)
    """The finished shards' results, every stage of each in its funnel."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Each finished phase's wall time."""

    @property
    def problems(self) -> list[str]:
        """Why the run did not finish, one line each: failed shards, stages whose errors fail
        it, counts that are not conserved; none for a run that did."""
        shards = [f"shard {shard} failed" for shard in self.failed]
        return shards + list(self.errored_stages.values()) + self.report["conservation_problems"]


def shard_plans(config: JobConfig) -> list[ShardPlan]:
    """One plan per segment: the stage list cut at each global stage."""
    fields = [f for spec in config.stages for f in STAGE_TYPES[spec.name].fields]
    base = ShardPlan(
        output=config.output,
        stages=(),
        schema=document_schema(fields),
        keep_removed=config.keep_removed,
        batch_size=config.execution.batch_size,
    )
    cuts: list[tuple[StageSpec | None, list[StageSpec]]] = [(None, [])]
    for spec in config.stages:
        if issubclass(STAGE_TYPES[spec.name], GlobalStage):
            cuts.append((spec, []))
        else:
            cuts[-1][1].append(spec)
    return [
        replace(base, stages=tuple(stages), segment=n, after=after, last=n == len(cuts) - 1)
        for n, (after, stages) in enumerate(cuts)
    ]


def run_job(
    config: JobConfig,
    address: str | None = None,
    fresh: bool = False,
    console: Console | None = None,
    shards: list[InputShard] | None = None,
) -> RunSummary:
    """Run `config`, over `shards` where given (some of its inputs' shards: the estimate's
    samples), else over all its inputs."""
    console = console or plain_console(stderr=True)
    started, clock = utc_now(), time.perf_counter()
    skip_pandas_probe()
    shards = input_shards(resolve_inputs(config)) if shards is None else shards
    output = RunOutput(config.output)
    check_output(output)
    plans = shard_plans(config)
    parts: dict[str, list[ShardResult]] = {shard.name: [] for shard in shards}
    phases: dict[str, dict] = {}
    failed: dict[str, str] = {}
    with ExitStack() as stack:
        stack.enter_context(locked(output))
        state = RunState.open(output, config, fresh=fresh)
        ray_workers: list[int] = []

        def workers() -> int:
            if not ray_workers:
                ray_workers.append(stack.enter_context(ray_session(config.execution, address)))
                if cluster_address(address):
                    refuse_unshared_run(config, output)
            return ray_workers[0]

        state.check_inputs(shards, first_folder=_folder(plans[0]))
        complete = {shard.name for shard in shards if state.finished(shard, "shards")}
        for plan in plans:
            if failed:
                console.print("stopping before the global phase: rerun to retry", style="red")
                break
            if plan.after is not None:
                phases[plan.after.name] = _run_phase(plan, shards, state, workers, console)
            folder = _folder(plan)
            # A segment is done for a shard whose last segment is (its output may be gone).
            done = {
                shard.name: result
                for shard in shards
                if (result := state.finished(shard, folder))
                and (
                    plan.last
                    or shard.name in complete
                    or state.output.exists(*plan.destination(shard.name))
                )
            }
            todo = [shard for shard in shards if shard.name not in done]
            if done:
                where = f" ({_label(plan)})" if len(plans) > 1 else ""
                console.print(
                    f"resuming: {len(done)} of {len(shards)} shards already finished{where}"
                )
            if todo:
                sources = {shard.name: _source(plan, parts[shard.name]) for shard in todo}
                for result in _run_tasks(todo, plan, sources, workers(), failed, console):
                    refuse_unseen_input(result)
                    state.record(result, folder)
                    kill_point("driver.shards")
                    done[result.shard] = result
            for shard, result in done.items():
                parts[shard].append(result)
        finished = [shard.name for shard in shards if len(parts[shard.name]) == len(plans)]
        results = [ShardResult.merged(parts[shard]) for shard in finished]
        errored = errored_stages(results, config.execution.max_errored_share)
        if errored:  # not finished after all: the next run redoes them and what follows
            state.forget([r.shard for r in results if _errored_in(r, errored)])
        documents = {
            path.removeprefix("documents/"): recorded
            for result in results
            for path, recorded in result.files.items()
            if path.startswith("documents/")
        }
        tokens = None
        if not (failed or errored):
            if config.makes_tokens and not sum(r.documents for r in results):
                errored = {"tokens": NOTHING_TO_TOKENIZE}
            else:
                tokens = build_tokens(config, state, documents, workers, console)
        if len(finished) == len(shards) and len(plans) > 1 and not errored:
            output.remove(WORK)
        elapsed = time.perf_counter() - clock
        report = build_report(config.name, results, elapsed, output, phases, tokens)
        write_report(output, report)
        output.write_json(build_manifest(config, results, started, utc_now()), "manifest.json")
    return RunSummary(
        output=output,
        report=report,
        failed=failed,
        errored_stages=errored,
        shards=results,
        phase_seconds=state.phase_seconds(),
    )


NOTHING_TO_TOKENIZE = (
    "tokens: no document was kept, so there is no tokenizer to train and nothing to tokenize "
    "(the report's funnel says where they went)"
)


def refuse_unseen_input(result: ShardResult) -> None:
    """Stop the run when a worker found no file at an input path this machine can read: on
    a cluster every shard would fail the same way (a path only this machine has)."""
    read = result.funnel.stages.get("read")
    if not (read and read.errored.get("missing_file")):
        return
    unseen = [p for p, info in result.inputs.items() if info.get("missing") and os.path.isfile(p)]
    if unseen:
        raise ConfigError(
            f"inputs: {unseen[0]} is readable here but not where the Ray worker ran; "
            "a cluster's nodes need the inputs at the same path (a shared file system) or in "
            "object storage (s3://, gs://)"
        )


def errored_stages(results: list[ShardResult], share: float) -> dict[str, str]:
    """Stage name → why it fails the run: it errored on every document it got, or on more
    than `share` of them. The reader is held to the first only: damaged input records are
    the input's fault, but inputs of which not one record could be read are in another
    format than their config says (a CSV named `.jsonl`)."""
    totals: dict[str, StageStats] = {}
    for result in results:
        for name, stats in result.funnel.stages.items():
            totals.setdefault(name, StageStats()).merge(stats)
    problems = {}
    for name, stats in totals.items():
        errored = sum(stats.errored.values())
        over_share = name != "read" and errored > share * stats.docs_in
        if stats.docs_in and (errored == stats.docs_in or over_share):
            problems[name] = (
                _unreadable(results, stats)
                if name == "read"
                else _erring(results, name, stats, share)
            )
    return problems


def _erring(results: list[ShardResult], name: str, stats: StageStats, share: float) -> str:
    errored = sum(stats.errored.values())
    reason, count = stats.errored.most_common(1)[0]
    cause = _sampled_cause(results, name, reason)
    return (
        f"stage {name} errored on {errored:,} of {stats.docs_in:,} documents "
        f"({reason}: {count:,}{f', e.g. {cause}' if cause else ''}), more than "
        f"execution.max_errored_share ({share:g}); fix the cause and rerun to redo its shards"
    )


def _unreadable(results: list[ShardResult], read: StageStats) -> str:
    reasons = ", ".join(f"{reason}: {count:,}" for reason, count in read.errored.most_common(3))
    example = next(
        next(iter(r.inputs))
        for r in results
        if "read" in r.funnel.stages and r.funnel.stages["read"].errored
    )
    return (
        f"inputs: not one of the {read.docs_in:,} records read could be used ({reasons}; e.g. "
        f"in {example}); fix the files, or their input's format or columns, and rerun to redo "
        "their shards"
    )


def _sampled_cause(results: list[ShardResult], stage: str, reason: str) -> str | None:
    """The detail of a sampled document `stage` errored for `reason`: an exception's line."""
    for result in results:
        for entry in result.funnel.samples.get(stage, {}).get(reason, []):
            if entry.get("detail"):
                return entry["detail"]
    return None


def _errored_in(result: ShardResult, stages: dict[str, str]) -> bool:
    return any(
        sum(result.funnel.stages[name].errored.values())
        for name in stages
        if name in result.funnel.stages
    )


def _run_phase(plan: ShardPlan, shards: list[InputShard], state: RunState, workers, console):
    """Run the global stage `plan.after` over every shard, unless it already finished; its
    summary for the report."""
    stage = STAGE_TYPES[plan.after.name](plan.after.params)
    context = PhaseContext(
        output=state.output,
        console=console,
        workers=workers,
        runner=run_tasks,
        shards=tuple(shard.name for shard in shards),
        folder=segment_folder(plan.segment - 1),
        excerpt_chars=EXCERPT_CHARS,
    )
    summary = state.run_phase(stage, context).to_json()
    return {**summary, "elapsed_s": state.phase(stage.name)["elapsed_s"]}


def _folder(plan: ShardPlan) -> str:
    """Where the run state records the shards a segment finished."""
    return "shards" if plan.last else f"segment-{plan.segment}"


def _label(plan: ShardPlan) -> str:
    return f"after {plan.after.name}" if plan.after else "before global stages"


def _source(plan: ShardPlan, earlier: list[ShardResult]) -> dict | None:
    """What the segment before `plan` recorded of the shard file `plan` reads."""
    if plan.segment == 0:
        return None
    shard = earlier[-1].shard
    return earlier[-1].files["/".join(segment_file(plan.segment - 1, shard))]


def _run_tasks(
    shards: list[InputShard],
    plan: ShardPlan,
    sources: dict[str, dict | None],
    workers: int,
    failed: dict[str, str],
    console: Console,
) -> Iterator[ShardResult]:
    """The shard tasks of one segment, each result as it comes; a failed task's shard is
    reported and left unfinished for the next run while the others go on."""
    task = ray.remote(process_shard_retried).options(num_cpus=1, max_retries=1)
    plan_ref = ray.put(plan)
    calls = [(task, (shard, plan_ref, sources[shard.name])) for shard in shards]
    with progress_bar(console, counted="documents") as progress:
        description = f"shards {_label(plan)}" if plan.after or not plan.last else "shards"
        bar = progress.add_task(description, total=len(shards), documents=0)
        documents = 0
        for index, result in completed(calls, workers):
            if isinstance(result, TaskFailed):
                failed[shards[index].name] = result.message
                console.print(f"shard {shards[index]} failed", style="red")
                progress.advance(bar)
                continue
            documents += result.documents
            progress.update(bar, advance=1, documents=documents)
            yield result
