"""The one task runner: Ray tasks run a few at a time, each outcome handed over as it
comes, behind a progress bar.

At most twice the workers are in flight, so a long list does not flood the object store.
`completed` is the loop; `run_tasks` is it for steps that need every result (in submission
order) and cannot go on without one, and the shard plan uses it directly, counting
documents on its bar and going on past a shard whose task failed.

On a terminal the progress is a bar; elsewhere (a Ray Job's log, CI, a file) it is a plain
line every `LINE_INTERVAL_S` seconds (whether or not a task finished) and when the step
ends, with the rate and an ETA.
"""

from __future__ import annotations

import errno
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.json_log import JsonLog
from pipeline.transient import is_transient, one_line

Call = tuple[Any, tuple]
"""A remote function and its arguments."""


MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)
"""A file system's refusals (full, read-only, not permitted, failing), which no code fixes."""


@dataclass
class TaskFailed:
    """A task that raised (after Ray's retries): what, and its traceback."""

    exception: Exception
    traceback: str

    @property
    def cause(self) -> Exception:
        """The exception the task's code raised (Ray's wraps it with the remote traceback)."""
        return getattr(self.exception, "cause", None) or self.exception

    @property
    def message(self) -> str:
        """One line where the machine refused the task (`[Errno 28] No space left on
        device`) or reading failed in a way that passes (a cut connection, tried again
        already), the traceback otherwise."""
        if isinstance(self.cause, OSError) and self.cause.errno in MACHINE_ERRNOS:
            return str(self.cause)
        if is_transient(self.cause):
            return one_line(self.cause)
        return self.traceback


def completed(calls: Sequence[Call], workers: int) -> Iterator[tuple[int, Any]]:
    """(index, result or `TaskFailed`) of each call, in the order they finish."""
    pending: dict[ray.ObjectRef, int] = {}
    queue = list(enumerate(calls))
    while queue or pending:
        while queue and len(pending) < 2 * workers:
            index, (task, args) = queue.pop(0)
            pending[task.remote(*args)] = index
        [ready], _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready)
        try:
            result = ray.get(ready)
        except Exception as err:  # the task failed as a whole; the caller decides what it means
            result = TaskFailed(err, traceback.format_exc())
        yield index, result


LINE_INTERVAL_S = 10.0


def progress_bar(console: Console, counted: str | None = None) -> Progress | ProgressLines:
    """A bar on a terminal, lines elsewhere; `counted` names a running total the step
    updates (`progress.update(task, documents=n)`)."""
    if not console.is_terminal:
        return ProgressLines(console, counted)
    extra = [TextColumn(f"{{task.fields[{counted}]:,}} {counted}")] if counted else []
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
    )


@dataclass
class _Step:
    description: str
    total: int
    fields: dict[str, int]
    done: int = 0
    started: float = field(default_factory=time.monotonic)


class ProgressLines:
    """Rich's Progress interface, printed as lines: `shards 3/10, 1,234 documents (41/s),
    ETA 0:00:17` every `interval` seconds while a step runs (a shard can take minutes: the
    lines show the run is alive), and once when it ends."""

    def __init__(self, console: Console, counted: str | None, interval: float = LINE_INTERVAL_S):
        self.console, self.counted, self.interval = console, counted, interval
        self.steps: list[_Step] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.heartbeat = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> ProgressLines:
        self.heartbeat.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.heartbeat.join()

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            running = [step for step in self.steps if step.done < step.total]
            if running:
                self._print(running[-1])

    def add_task(self, description: str, total: int, **fields: int) -> int:
        self.steps.append(_Step(description, total, fields))
        if total == 0:
            self._print(self.steps[-1])
        return len(self.steps) - 1

    def advance(self, task: int, advance: int = 1) -> None:
        self.update(task, advance=advance)

    def update(self, task: int, advance: int = 0, **fields: int) -> None:
        step = self.steps[task]
        ended = step.done >= step.total
        step.done += advance
        step.fields.update(fields)
        if step.done >= step.total and not ended:
            self._print(step)

    def _print(self, step: _Step) -> None:
        with self.lock:
            self._print_line(step)

    def _print_line(self, step: _Step) -> None:
        now = time.monotonic()
        elapsed = max(now - step.started, 1e-9)
        parts = [f"{step.description} {step.done}/{step.total}"]
        numbers: dict[str, Any] = {"step": step.description, "done": step.done}
        numbers |= {"total": step.total, "elapsed_s": round(elapsed, 1)}
        if self.counted:
            count = numbers[self.counted] = step.fields.get(self.counted, 0)
            parts.append(f"{count:,} {self.counted} ({count / elapsed:,.0f}/s)")
        if step.done < step.total and step.done:
            eta = numbers["eta_s"] = round((step.total - step.done) * elapsed / step.done, 1)
            parts.append(f"ETA {timedelta(seconds=round(eta))}")
        else:
            parts.append(f"{timedelta(seconds=round(elapsed))}")
        if isinstance(self.console, JsonLog):
            self.console.event(", ".join(parts), **numbers)
        else:
            self.console.print(", ".join(parts), highlight=False, soft_wrap=True)


def run_tasks(calls: Sequence[Call], workers: int, label: str, console: Console) -> list:
    """Every call's result, in submission order; a task that failed raises here."""
    results: dict[int, Any] = {}
    with progress_bar(console) as progress:
        bar = progress.add_task(label, total=len(calls))
        for index, result in completed(calls, workers):
            if isinstance(result, TaskFailed):  # as the task raised it: the CLI's one line
                raise result.cause from result.exception
            results[index] = result
            progress.advance(bar)
    return [results[index] for index in range(len(calls))]
