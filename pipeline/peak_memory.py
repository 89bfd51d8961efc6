"""The peak resident memory of this process and every process it starts (an embedded Ray's
raylet and workers, their sandboxes), sampled while a block runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class PeakMemory:
    total: int = 0
    """All the processes at once."""
    largest: int = 0
    """The largest one."""


@contextmanager
def watched_memory(interval_s: float = 0.2) -> Iterator[PeakMemory]:
    """The resident memory of this process and all it starts, at their peak, sampled."""
    peak = PeakMemory()
    done = threading.Event()

    def watch() -> None:
        me = psutil.Process()
        while True:
            sizes = [_rss(p) for p in [me, *me.children(recursive=True)]]
            peak.total = max(peak.total, sum(sizes))
            peak.largest = max(peak.largest, *sizes)
            if done.wait(interval_s):
                return

    watcher = threading.Thread(target=watch, name="peak-memory", daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:  # ended between listing and asking
        return 0
