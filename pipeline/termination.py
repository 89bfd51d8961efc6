"""SIGTERM (`kill PID`, `tokenmill jobs stop`, a scheduler ending a job) stops a command as
Ctrl-C does: a KeyboardInterrupt, so what it started is stopped and the CLI says
`interrupted: rerun the same command to resume`.

By default SIGTERM ended the CLI alone: torchrun's ranks trained on, and a run on Ray died
in Ray's own handler, which printed `*** SIGTERM received ...` and a stack address.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM raises KeyboardInterrupt. Signals reach the main thread only, so in
    another thread (a service's) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
