"""The one task runner: Ray tasks run a few at a time, each outcome handed over as it
comes, behind a progress bar.

At most twice the workers are in flight, so a long list does not flood the object store.
`completed` is the loop; `run_tasks` is it for steps that need every result (in submission
order) and cannot go on without one, and the shard plan uses it directly, counting
documents on its bar and going on past a shard whose task failed.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Call = tuple[Any, tuple]
"""A remote function and its arguments."""


@dataclass
class TaskFailed:
    """A task that raised (after Ray's retries): what, and its traceback."""

    exception: Exception
    traceback: str


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


def progress_bar(console: Console, *extra: TextColumn) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
    )


def run_tasks(calls: Sequence[Call], workers: int, label: str, console: Console) -> list:
    """Every call's result, in submission order; a task that failed raises here."""
    results: dict[int, Any] = {}
    with progress_bar(console) as progress:
        bar = progress.add_task(label, total=len(calls))
        for index, result in completed(calls, workers):
            if isinstance(result, TaskFailed):
                raise result.exception
            results[index] = result
            progress.advance(bar)
    return [results[index] for index in range(len(calls))]
