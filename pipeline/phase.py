"""What a global phase is: one step over the whole run (dedup; the tokens steps: tokenizer,
encode, mixture, shuffle), run once and recorded in the run state with the digest of what
decided it, and skipped on a rerun while that digest is unchanged (`RunState.run_phase`).

A phase works through its `PhaseContext`: the run's output folder, Ray (started when a
phase first asks for workers) and the one task runner, so the libraries that implement
phases (dedup) need nothing else of the pipeline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline.output import RunOutput


def digest_of(*parts: Any) -> str:
    """A digest of what decides a phase, from plain data."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class PhaseSummary:
    """What a phase returns and its record keeps; a dataclass, plain JSON as it stands
    (a summary holding other types overrides both methods)."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(**data)


class Phase(Protocol):
    name: ClassVar[str] | str
    Summary: ClassVar[type[PhaseSummary]]

    def digest(self) -> str:
        """What decides the phase's result: a recorded run with another digest is redone."""

    def run(self, context: PhaseContext) -> PhaseSummary:
        """Do the work, writing through `context.output`."""


@dataclass
class PhaseContext:
    output: RunOutput
    console: Console
    workers: Callable[[], int]
    """Starts Ray on first call (only a phase with work to do calls it); tasks to run at once."""
    runner: Callable[[Sequence[tuple[Any, tuple]], int, str, Console], list]
    """The task runner (pipeline.tasks.run_tasks)."""
    shards: tuple[str, ...] = ()
    """Shard names in plan order; a global stage reads `output.path(*folder, f"{shard}.parquet")`."""
    folder: tuple[str, ...] = ()
    excerpt_chars: int = 0
    """How long the report's excerpts of documents are."""

    def run_tasks(self, calls: Sequence[tuple[Any, tuple]], label: str) -> list:
        """Every call's result in submission order; a failed task raises."""
        return self.runner(calls, self.workers(), label, self.console)
