"""The arguments several commands share, declared once."""

from __future__ import annotations

import argparse

from rich.console import Console

from pipeline.json_log import JsonLog


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """`--set KEY=VALUE`, repeatable, into `args.overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value by dotted key: {example}",
    )


def add_log_format(parser: argparse.ArgumentParser) -> None:
    """`--log-format text|json`: what the command prints, for a person or a log collector."""
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line on stderr (time, message; progress lines with "
        "their numbers as fields), for log collectors",
    )


def log_console(args: argparse.Namespace) -> Console:
    """Where the command reports: stderr, as text or JSON lines (`--log-format`)."""
    if getattr(args, "log_format", "text") == "json":
        return JsonLog()
    return Console(stderr=True)


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """`--output`, which overrides the config's `output:`."""
    parser.add_argument("--output", help=f"{what} (overrides `output:`)")
