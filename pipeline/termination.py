"""SIGTERM (`kill PID`, `tokenmill jobs stop`, a scheduler ending a job) does what Ctrl-C
does: what the command started is stopped, and the CLI says `interrupted: rerun the same
command to resume`.

By default SIGTERM ended the CLI alone: torchrun's ranks trained on, `lm train` left its
corpus copy and ARPA file in a temporary folder, and a run on Ray (or its Ray Train ranks)
died in Ray's own handler, which printed `*** SIGTERM received ...` and a stack address.
The CLI sets this for every command; starting and stopping Ray set other handlers over it,
so whatever starts, joins or stops Ray keeps the handler it had.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


def _as_ctrl_c(signum: int, frame: Any) -> None:
    """What SIGINT does now: Python's KeyboardInterrupt, or the handler a library set for
    it (Ray Train's stops the ranks, then exits)."""
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):  # SIGINT ignored (a command started in the background)
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within: SIGTERM does what SIGINT does. Signals reach the main thread only, so in
    another thread (a service's) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_handler_kept() -> Iterator[None]:
    """After the block, SIGTERM is handled as before it. Around starting Ray, and around
    `ray.shutdown`, whose native code sets the default handler while Python's record still
    names ours: a SIGTERM after a run's last shard (its report being written) killed the
    CLI, which printed no `interrupted`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
