"""The curation commands: `run` a pipeline job, `estimate` what it would take, and `report`
on a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from pipeline.cli.arguments import (
    add_log_format,
    add_output,
    add_overrides,
    log_console,
    make_folder,
    whole_number_from,
)
from pipeline.console import byte_size, labelled, plain_console, plural
from pipeline.schema import ConfigError

if TYPE_CHECKING:
    from pipeline.estimate import Estimate


def register(commands) -> None:
    run = commands.add_parser(
        "run", help="run a pipeline job", description="Run a pipeline job config on Ray."
    )
    run.add_argument("config", help="job config YAML")
    add_output(run, "output folder or URL")
    run.add_argument("--address", help="Ray address to join (default: an embedded local Ray)")
    add_overrides(run, "stages.extract.engine=trafilatura (stages by name)")
    run.add_argument(
        "--fresh", action="store_true", help="discard an earlier run's output in the folder first"
    )
    add_log_format(run)
    run.set_defaults(command=run_command)

    estimate = commands.add_parser(
        "estimate",
        help="estimate a job's core-hours, memory and output size from a sample",
        description="Run a pipeline job config on the first pages of the files of a few "
        "shards of each input, three times (a quarter of --pages with the workers cold, a "
        "quarter and all of them warm; on an embedded Ray, in a temporary folder), and "
        "extrapolate over the sizes of all its input files: pages read, core-hours by stage, "
        "peak memory, and the size of the documents and token shards.",
    )
    estimate.add_argument("config", help="job config YAML")
    estimate.add_argument(
        "--pages",
        type=whole_number_from(1),
        default=1000,
        help="pages (records) the sample reads in all, at least one a file (default: 1000)",
    )
    add_overrides(estimate, "stages.extract.engine=trafilatura (stages by name)")
    estimate.add_argument("--json", action="store_true", help="print the estimate as JSON")
    add_log_format(estimate)
    estimate.set_defaults(command=estimate_command)

    report = commands.add_parser(
        "report",
        help="show a run's report",
        description="Summarise a finished run's report (OUT/report/report.json), write it as "
        "a self-contained HTML page, or compare it with another run's; for an ablation's "
        "folder, print its comparison. Exits 1 if a shard the run wrote is missing or changed.",
    )
    report.add_argument("output", help="the run's (or an ablation's) output folder")
    report.add_argument(
        "--json", action="store_true", help="print report.json (or the comparison) as JSON"
    )
    report.add_argument(
        "--html",
        metavar="FILE",
        help="write the report (or, with --compare, the comparison) as one self-contained "
        "HTML page",
    )
    report.add_argument(
        "--compare",
        metavar="OUT_B",
        help="another run's output folder: the config keys that differ, the numbers that "
        "changed, and documents kept by one run only (ids match where both read the same "
        "input paths)",
    )
    report.set_defaults(command=report_command)


def run_command(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.plan import run_job
    from pipeline.report.terminal import print_funnel, print_mixture_misses

    config = load_config(args.config, args.overrides, output=args.output)
    console = log_console(args)
    summary = run_job(config, address=args.address, fresh=args.fresh, console=console)
    print_funnel(summary.report, console)
    shards = summary.output.list("documents", suffix=".parquet")
    console.print(
        f"output: {summary.output.path('documents')} ({plural(len(shards), 'shard')})",
        soft_wrap=True,
    )
    if tokens := summary.report.get("tokens"):
        train, val = tokens["train"], tokens["val"]
        console.print(
            f"tokens: {summary.output.path('tokens')} ({plural(train['shards'], 'shard')}, "
            f"{train['tokens']:,} training and {val['tokens']:,} validation tokens)",
            soft_wrap=True,
        )
        print_mixture_misses(tokens, console)
    for name in ("report.json", "report.html"):
        console.print(f"report: {summary.output.path('report', name)}", soft_wrap=True)
    for shard, error in summary.failed.items():
        console.print(f"shard {shard} failed; rerun to retry it", style="red")
        console.print(error, highlight=False, soft_wrap=True)
    for problem in summary.errored_stages.values():
        console.print(labelled("error", problem), highlight=False, soft_wrap=True)
    return 1 if summary.problems else 0


def estimate_command(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.estimate import SampleFailed, estimate

    config = load_config(args.config, args.overrides)
    console = log_console(args)
    try:
        result = estimate(config, args.pages, console)
    except SampleFailed as err:
        console.print(labelled("error", f"the sample run failed: {err}"), soft_wrap=True)
        return 1
    except KeyboardInterrupt:  # nothing to resume: the samples' folders are gone
        console.print("interrupted", highlight=False)
        return 130
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_estimate(result, plain_console())
    return 0


def print_estimate(estimate: Estimate, console: Console) -> None:
    console.print(
        f"sampled {estimate.pages:,} pages in {estimate.sample_seconds:.1f} s on "
        f"{estimate.workers} workers; estimated for all the inputs:"
    )
    inputs = Table("source", "format", "files", "stored", "pages", "sampled")
    for row in estimate.inputs:
        sized = "" if row.sized_files == row.files else f" ({row.sized_files:,} sized)"
        shards = "" if row.shards == row.files else f" in {plural(row.shards, 'shard')}"
        inputs.add_row(
            row.source,
            row.format,
            f"{row.files:,}{shards}{sized}",
            byte_size(row.stored_bytes),
            f"{row.pages:,}",
            f"{row.sample_pages:,} in {plural(row.sampled_files, 'file')}",
        )
    console.print(inputs)
    unit, per_hour = ("core-hours", 1) if estimate.core_hours >= 1 else ("core-seconds", 3600)

    def spent(hours: float) -> str:
        return f"{hours * per_hour:,.{2 if hours * per_hour < 10 else 0}f}"

    work = Table("work", "pages in", "kept", unit)
    for stage in estimate.stages:
        work.add_row(stage.name, f"{stage.pages_in:,}", f"{stage.kept:,}", spent(stage.core_hours))
    work.add_row("start-up of the shard tasks", "", "", spent(estimate.startup_core_hours))
    for phase, hours in estimate.phases.items():
        work.add_row(f"{phase} phase (wall time × workers)", "", "", spent(hours))
    work.add_row("total", "", "", spent(estimate.core_hours), style="bold")
    console.print(work)
    console.print(
        f"memory: {byte_size(estimate.peak_rss_bytes)} resident at the peak, all processes on "
        f"{estimate.workers} workers; the largest process {byte_size(estimate.largest_process_rss_bytes)}"
    )
    output = f"output: documents {byte_size(estimate.output_bytes)}"
    if estimate.unique_tokens:
        output += (
            f"; token shards {byte_size(estimate.token_bytes)}: "
            f"{estimate.training_tokens:,} training tokens from "
            f"{sum(estimate.unique_tokens.values()):,} in the kept documents"
        )
    console.print(output)


def report_command(args: argparse.Namespace) -> int:
    from pipeline.output import RunOutput
    from pipeline.report.compare import compare_runs, print_comparison
    from pipeline.report.compare_html import render_comparison_html
    from pipeline.report.html import render_html
    from pipeline.report.terminal import print_summary
    from pipeline.state import damaged_shards

    if _is_ablation(args.output):
        return _report_ablation(args)
    report = _read_report(args.output)
    html = _html_file(args.html) if args.html else None
    comparison = None
    if args.compare:
        _read_report(args.compare)
        comparison = compare_runs(RunOutput(args.output), RunOutput(args.compare))
    if html:
        page = render_comparison_html(comparison) if comparison else render_html(report)
        html.write_text(page, encoding="utf-8")
        plain_console(stderr=True).print(f"wrote {html}", soft_wrap=True)
    if comparison and args.json:
        print(json.dumps(comparison, indent=2))
    elif comparison and not args.html:
        print_comparison(comparison, plain_console())
    elif args.json:
        print(json.dumps(report, indent=2))
    elif not args.html:
        print_summary(report, plain_console())
    damaged = damaged_shards(RunOutput(args.output))
    for path in damaged:
        plain_console(stderr=True).print(
            labelled("error", f"{path} is missing or not what the run wrote"), soft_wrap=True
        )
    return 1 if damaged else 0


def _is_ablation(folder: str) -> bool:
    from pipeline.ablation.config import MARKER

    return "://" not in folder and Path(folder, MARKER).is_file()


def _report_ablation(args: argparse.Namespace) -> int:
    """An ablation's folder: its comparison, as `tokenmill ablate` printed it."""
    from pipeline.ablation.config import COMPARISON
    from pipeline.cli.ablation import comparison_console, print_comparison
    from pipeline.output import RunOutput

    variants = "each variant's pipeline run (VARIANT/run) has a report"
    if args.html or args.compare:
        option = "--html" if args.html else "--compare"
        raise ConfigError(f"{option}: {args.output} is an ablation's folder; {variants}")
    output = RunOutput(args.output)
    if not output.exists(*COMPARISON):
        raise ConfigError(
            f"{args.output}: an ablation's folder with no comparison yet (has `tokenmill "
            f"ablate` finished?); {variants}"
        )
    comparison = output.read_json(*COMPARISON)
    if args.json:
        print(json.dumps(comparison, indent=2))
    else:
        print_comparison(comparison, comparison_console())
    return 0


def _why_no_report(folder: str) -> str:
    """For a folder without report/report.json: not there, or inside the run it meant."""
    path = Path(folder).absolute()
    if "://" not in folder:
        if not path.exists():
            return "no such folder"
        for run in path.parents[:2]:
            if (run / "report" / "report.json").is_file():
                return f"not a run's output folder; did you mean {run}?"
    return "no report/report.json (has the run finished?)"


def _html_file(name: str) -> Path:
    """Where --html writes: a file (its folders are made), never an existing folder."""
    path = Path(name)
    if path.is_dir():
        raise ConfigError(f"--html: {name} is a folder; give a file, e.g. {path / 'report.html'}")
    make_folder("--html", path.parent)
    return path


def _read_report(folder: str) -> dict:
    from pipeline.output import RunOutput
    from pipeline.report.build import REPORT_SCHEMA_VERSION

    output = RunOutput(folder)
    if not output.exists("report", "report.json"):
        raise ConfigError(f"{folder}: {_why_no_report(folder)}")
    if output.damaged(["report/report.json"]):  # by the sha256 the run recorded writing it
        raise ConfigError(
            f"{output.path('report', 'report.json')}: not what the run wrote (changed since); "
            "running the run's command again writes it anew"
        )
    report = output.read_json("report", "report.json")
    version = report.get("schema_version") if isinstance(report, dict) else None
    if version != REPORT_SCHEMA_VERSION:
        raise ConfigError(
            f"{output.path('report', 'report.json')}: report schema version {version}; this "
            f"tokenmill reads version {REPORT_SCHEMA_VERSION} (docs/report-schema.md)"
        )
    return report
