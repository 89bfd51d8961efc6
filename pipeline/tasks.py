"""Ray tasks run a few at a time behind a progress bar, results in submission order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def run_tasks(
    calls: Sequence[tuple[Any, tuple]], workers: int, label: str, console: Console
) -> list:
    """Each (remote function, args) run as a task, at most twice `workers` in flight, so a
    long list does not flood the object store; a failed task raises here."""
    results: dict[int, Any] = {}
    pending: dict[ray.ObjectRef, int] = {}
    queue = list(enumerate(calls))
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task(label, total=len(calls))
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                index, (task, args) = queue.pop(0)
                pending[task.remote(*args)] = index
            [ready], _ = ray.wait(list(pending), num_returns=1)
            results[pending.pop(ready)] = ray.get(ready)
            progress.advance(bar)
    return [results[index] for index in range(len(calls))]
