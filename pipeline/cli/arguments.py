"""The arguments several commands share, declared once."""

from __future__ import annotations

import argparse


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


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """`--output`, which overrides the config's `output:`."""
    parser.add_argument("--output", help=f"{what} (overrides `output:`)")
