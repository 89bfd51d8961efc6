"""A Ctrl-C that stops training between two steps.

Python raises SIGINT (a Ctrl-C, or the signal torchrun passes on to its ranks) as a
KeyboardInterrupt at whatever line runs when it comes. In a training step that line is mostly
a library's, which the exception can leave half done (a queue's or a TensorBoard writer's
lock taken: a one-process training, killed, once hung instead of exiting). When that line is
in a finaliser (a weakref callback, a `__del__`), the exception cannot propagate: Python
printed "Exception ignored in ..." with its traceback, dropped it, and the run trained on.

So within `interruptible()` the first SIGINT is only recorded and said (a post-training step
that generates can take a while), and the training loop raises it where nothing is half done
(`raise_if_interrupted`: before each step, and at the end of the block). A second SIGINT is
raised at once, for a step that never ends; where it lands in a finaliser it is not printed,
and the loop raises it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

_requested = threading.Event()

STOPPING = b"stopping after this step (interrupt again to stop at once)\n"


def _interrupt(signum: int, frame: Any) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()
    if os.environ.get("RANK", "0") == "0":  # said once, by the first rank
        with contextlib.suppress(OSError):  # a raw write: the handler may cut into a print
            os.write(2, b"\n" + STOPPING if os.isatty(2) else STOPPING)  # below a tqdm bar


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGINT is recorded, for the loop to raise; a second one is raised at once.
    Signals reach the main thread only, so elsewhere (a Ray Train worker's thread) and where
    SIGINT is ignored (a job started in the background) nothing changes."""
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
    raise_if_interrupted()  # one that came after the last step


def interrupted() -> bool:
    """Whether SIGINT came within the last `interruptible()`."""
    return _requested.is_set()


def raise_if_interrupted() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
