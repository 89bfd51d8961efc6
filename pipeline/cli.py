"""`tokenmill`: the one entry point. Each subcommand has --help."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from pipeline.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except ConfigError as err:
        Console(stderr=True).print(f"[red]config error[/red]: {err}", highlight=False)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenmill",
        description="Curate web crawls into training data on Ray, and train on it.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a pipeline job", description="Run a pipeline job config on Ray."
    )
    run.add_argument("config", help="job config YAML")
    run.add_argument("--output", help="output folder or URL (overrides `output:`)")
    run.add_argument("--address", help="Ray address to join (default: an embedded local Ray)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted key, stages by name: stages.extract.engine=trafilatura",
    )
    run.add_argument(
        "--fresh", action="store_true", help="discard an earlier run's output in the folder first"
    )
    run.set_defaults(command=_run)

    report = commands.add_parser(
        "report", help="show a run's report", description="Print the funnel of a finished run."
    )
    report.add_argument("output", help="the run's output folder")
    report.add_argument("--json", action="store_true", help="print report.json instead")
    report.set_defaults(command=_report)
    return parser


def _run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.plan import run_job
    from pipeline.report import print_funnel

    config = load_config(args.config, args.overrides, output=args.output)
    console = Console(stderr=True)
    summary = run_job(config, address=args.address, fresh=args.fresh, console=console)
    print_funnel(summary.report, console)
    shards = summary.output.list("documents", suffix=".parquet")
    console.print(
        f"output: {summary.output.path('documents')} ({len(shards)} shards)", soft_wrap=True
    )
    console.print(f"report: {summary.output.path('report', 'report.json')}", soft_wrap=True)
    for shard, error in summary.failed.items():
        console.print(f"[red]shard {shard} failed; rerun to retry it[/red]\n{error}")
    return 1 if summary.failed or summary.report["conservation_problems"] else 0


def _report(args: argparse.Namespace) -> int:
    from pipeline.output import RunOutput
    from pipeline.report import print_funnel

    output = RunOutput(args.output)
    if not output.exists("report", "report.json"):
        raise ConfigError(f"{args.output}: no report/report.json (has the run finished?)")
    report = output.read_json("report", "report.json")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_funnel(report, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
