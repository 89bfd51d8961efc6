"""The arguments several commands share, declared once."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from pipeline.console import plain_console
from pipeline.json_log import JsonLog
from pipeline.schema import ConfigError


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """`--set KEY=VALUE`, repeatable, into `args.overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=utf8_text,
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
    return plain_console(stderr=True)


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """`--output`, which overrides the config's `output:`."""
    parser.add_argument("--output", type=utf8_text, help=f"{what} (overrides `output:`)")


def whole_number_from(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argument type: a whole number from `low` (to `high`, both included)."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is less than {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} is more than {high}")
        return value

    return whole_number


positive_int = whole_number_from(1)  # ranks, tokens, documents, bytes


def number_between(low: float, high: float) -> Callable[[str], float]:
    """An argument type: a number from `low` to `high`, both included."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return number


def utf8_text(text: str) -> str:
    """An argument type: text to tokenize, a config value. Bytes of the command line that
    are not UTF-8 reach Python as lone surrogates, which the tokenizer refused with a
    TypeError and YAML as a `special character`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{os.fsencode(text)!r} is not UTF-8 text") from None
    return text


def make_folder(argument: str, folder: Path) -> None:
    """Make the folder a command writes into before its work starts: one that cannot be
    made is a line naming `argument`, not `[Errno 1] Operation not permitted` after it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{argument}: {folder} is a file, not a folder") from None
    except OSError as err:  # no permission, a read-only or pseudo file system
        raise ConfigError(f"{argument}: {folder} cannot be made: {err.strerror or err}") from None


def file_to_write(text: str) -> str:
    """An argument type: a local path to write a file at, not an existing folder."""
    if "://" in text:  # pathlib would make s3://b/m.binary a local folder named s3:
        raise argparse.ArgumentTypeError(
            f"{text}: the file is written to a local path; copy it after"
        )
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give the path of the file to write")
    return text
