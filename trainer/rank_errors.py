"""A rank's error, said once. Under torchrun every rank that one cause stops (a diverged run,
an empty data file, a full disk) printed the same line, and torchrun, stopping the others
once one failed, could cut a rank off before it printed its own. With `RANK_ERRORS` set (by
the launcher, to a folder of its own), a rank writes its error there instead; once torchrun
has ended, the launcher says each different one once."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

RANK_ERRORS = "TOKENMILL_RANK_ERRORS"
"""The environment variable naming the folder the ranks write their errors to."""


def tell_error(message: str) -> None:
    """This rank's error: written for the launcher, or printed where it gave no folder (one
    process, Ray Train) or the file cannot be written."""
    folder = os.environ.get(RANK_ERRORS)
    if folder:
        with contextlib.suppress(OSError):  # a full disk: printed instead
            _rank_file(Path(folder), int(os.environ.get("RANK", "0"))).write_text(
                message, encoding="utf-8"
            )
            return
    print(f"error: {message}", file=sys.stderr, flush=True)


def told_errors(folder: Path) -> dict[int, str]:
    """Rank → the error it wrote to `folder`."""
    return {
        int(path.name.removeprefix("rank-")): path.read_text(encoding="utf-8")
        for path in folder.glob("rank-*")
    }


def told_by(folder: Path, rank: int) -> bool:
    return _rank_file(folder, rank).is_file()


def _rank_file(folder: Path, rank: int) -> Path:
    return folder / f"rank-{rank}"
