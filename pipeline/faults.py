"""Fault injection for the fault suite (tests/test_faults.py): a process that reaches a
named point SIGKILLs itself there, once.

`TOKENMILL_KILL_AT` names the points (comma-separated) and `TOKENMILL_FAULTS` a folder
where each point leaves a mark when it fires, so the retry (or the rerun) goes past it. A
point named `driver.*` kills the driver's whole process group, Ray's processes included,
as a crash or `kill -9` of the job would; the fault suite starts the driver as a group
leader. With `TOKENMILL_KILL_AT` unset, a point costs one lookup in the environment.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def kill_point(name: str) -> None:
    points = os.environ.get("TOKENMILL_KILL_AT")
    if not points or name not in points.split(","):
        return
    mark = Path(os.environ["TOKENMILL_FAULTS"]) / name
    try:
        mark.touch(exist_ok=False)
    except FileExistsError:
        return  # fired before: this is the retry
    if name.startswith("driver."):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
