"""The consoles tokenmill prints through: rich's, taking text as text.

What is printed holds paths, URLs, config keys, job names and document text, so rich's
markup is off (with it, `runs/[old]/x` printed as `runs//x` and a `[/x]` in a file name
raised MarkupError) and so are its emoji codes (`x:a:b` printed as `x🅰b`). Colour is given
as a style instead (`labelled`)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def plain_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that prints strings as they are."""
    return Console(stderr=stderr, markup=False, emoji=False)


def labelled(label: str, message: str, colour: str = "red") -> Text:
    """`label: message`, the label in `colour` (`error: …`, `config error: …`)."""
    return Text.assemble((label, colour), ": ", message)


BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def byte_size(count: float) -> str:
    """`count` bytes in decimal units: `512 B`, `1.2 MB`, `3.4 TB`."""
    power = 0
    while count >= 1000 and power < len(BYTE_UNITS) - 1:
        count /= 1000
        power += 1
    return f"{count:,.0f} B" if power == 0 else f"{count:,.1f} {BYTE_UNITS[power]}"


def plural(count: int, noun: str) -> str:
    """`1 file`, `2 files`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
