"""A Ctrl-C that stops training wherever it lands.

Python raises SIGINT (a Ctrl-C, or the signal torchrun passes on to its ranks) as a
KeyboardInterrupt at whatever line runs when it comes. When that line is in a finaliser (a
weakref callback, a `__del__`), the exception cannot propagate: Python printed "Exception
ignored in ..." with its traceback, dropped it, and the run trained on (a rank until torchrun
killed it 30 s later; one process to `train.steps`). Within `interruptible()` the handler
also records the request, and the training loop raises it again between steps
(`raise_if_interrupted`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

_requested = threading.Event()


def _interrupt(signum: int, frame: Any) -> None:
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT is recorded as well as raised, and an interrupt a finaliser dropped is not
    printed (the loop raises it). Signals reach the main thread only, so elsewhere (a Ray
    Train worker's thread) and where SIGINT is ignored (a job started in the background)
    nothing changes."""
    _requested.clear()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    printed = sys.unraisablehook

    def dropped(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            printed(unraisable)

    signal.signal(signal.SIGINT, _interrupt)
    sys.unraisablehook = dropped
    try:
        yield
    finally:
        sys.unraisablehook = printed
        signal.signal(signal.SIGINT, signal.default_int_handler)


def interrupted() -> bool:
    """Whether SIGINT came within the last `interruptible()`."""
    return _requested.is_set()


def raise_if_interrupted() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
