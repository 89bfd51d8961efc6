"""What a stage is: a block that annotates a batch of documents and says what it would drop.

A stage never filters by itself. It returns a `Verdict`: the batch with its annotation
columns added, plus per-row reasons for removal and for errors (null where the document
stays). The shard runner does the selecting and the counting, so every stage conserves
`docs_in == kept + removed + errored` by construction.

Most stages decide each document on its own (`Stage`). A `GlobalStage` (dedup) must see
every document before it can decide about any: the plan runs it as a phase between the
per-file stages before it and those after it, and then applies its decisions shard by
shard through an ordinary `Stage`, so its counts go through the same funnel.

A stage whose engine can hold on to one pathological document for minutes in C code (an
HTML parser, a regex engine) takes a `TimeBudget`: the shard runner then runs it in a child
process that it kills when a batch runs past the budget (pipeline/sandbox.py). The stage
itself stays plain: calling its `process` runs in-process, without a budget.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from pipeline.phase import PhaseContext, PhaseSummary
from pipeline.schema import StrictModel

if TYPE_CHECKING:
    from pipeline.output import RunOutput


@dataclass
class Verdict:
    table: pa.Table
    removed: pa.Array | None = None
    """Per row: why the document is removed (string), or null to keep it."""
    details: pa.Array | None = None
    """Per removed row: what decided it, e.g. the value a rule measured and the threshold it
    crossed (`0.62 < 0.8`); per errored row, what the stage raised (the runner sets it). Shown
    beside the report's samples."""
    errored: pa.Array | None = None
    """Per row: why the document could not be processed (string), or null."""
    counters: dict[str, int] = field(default_factory=dict)
    """What the stage counted beyond documents, summed into the report: lines a line-level
    rule removed, PII entities by type, documents matching each benchmark, ..."""

    def take(self, rows: np.ndarray) -> Verdict:
        """The verdict on these rows, in this order."""
        chosen = pa.array(rows)
        return Verdict(
            self.table.take(chosen),
            *(
                None if column is None else column.take(chosen)
                for column in (self.removed, self.details, self.errored)
            ),
            counters=self.counters,
        )


def crossed_details(
    removed: np.ndarray, values: np.ndarray, sign: str, threshold: float | np.ndarray
) -> pa.Array:
    """A Verdict's `details` for a threshold on one score, one for all documents or one each:
    `value sign threshold` (e.g. `0.41 ≤ 0.65`) where `removed`, null elsewhere."""
    values = np.asarray(values, np.float64)
    thresholds = np.broadcast_to(np.asarray(threshold, np.float64), values.shape)
    text = np.char.add(np.char.mod("%.4g", values), np.char.mod(f" {sign} %.4g", thresholds))
    return pa.array(np.where(removed, text.astype(object), None), pa.string())


class TimeBudget(StrictModel):
    """Params of a stage that may take too long on a document: the runner enforces `timeout`."""

    timeout: float = Field(default=30, gt=0)
    """Seconds the stage may spend on a group of documents (of one language where the stage
    judges each apart): 64 at first (a normal group of English pages takes well under a
    second), twice as many after a full group that took under a quarter of the budget, up
    to 256. Past it the group is abandoned and its documents retried one at a time, each
    with the same limit, and a document that alone runs past it is errored
    `<stage>_timeout`. When none does, the documents were slow, not stuck (Korean's
    segmenter reads about 12,000 characters a second), and later groups get half as many.
    What a stage loads, at start-up or for a group's documents (a language's word rules), is
    not timed."""


class StageBase(ABC):
    """What every stage has: its config `name`, its `Params` model, the columns it adds."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    fields: ClassVar[tuple[pa.Field, ...]] = ()
    """Annotation columns this stage adds to every document."""
    reads: ClassVar[tuple[str, ...]] = ()
    """The raw columns (`documents.RAW_COLUMNS`: a fetched page's HTML and HTTP headers) this
    stage reads; the runner keeps each until the last stage that reads it."""
    group_by: ClassVar[str | None] = None
    """A column the runner sorts each batch on (stably) before cutting it into a timed
    stage's groups, and whose order it restores after: a stage that judges each language
    apart then makes about one pass per language of a batch, not one per language of each
    group."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def load(self) -> None:  # noqa: B027 (a hook: most stages load nothing)
        """Load what the stage needs before its first batch (a model, word rules): the runner
        counts it as the stage's start-up, not its work. Loaders cache per process."""

    def try_load(self) -> None:
        """`load`, leaving a failure to the first batch: a model that does not load then
        errors each document, which the runner counts (and `max_errored_share` turns into a
        failed run naming the stage) instead of failing the shard task."""
        with contextlib.suppress(Exception):
            self.load()

    def load_for(self, table: pa.Table) -> None:  # noqa: B027 (a hook, as `load`)
        """Load what `table`'s documents need beyond `load` (the word rules of each of their
        languages), so that a sandbox can load it before the batch's time budget starts; the
        runner counts it as start-up."""


class Stage(StageBase):
    """Base of every per-document stage; subclasses set `name`, `Params` and `fields`."""

    @abstractmethod
    def process(self, table: pa.Table) -> Verdict:
        """Annotate `table` and decide, row by row, what stays."""


class GlobalStage(StageBase):
    """A stage that decides over all documents at once: a phase (pipeline/phase.py) that the
    plan runs between the per-file stages before it and those after it."""

    Summary: ClassVar[type[PhaseSummary]]

    def digest(self) -> str:
        """Its params decide it (the shards it reads are the plan's, which the run state
        already keys on)."""
        return hashlib.sha256(self.params.model_dump_json().encode()).hexdigest()

    @abstractmethod
    def run(self, context: PhaseContext) -> PhaseSummary:
        """Decide for every document of every shard, write the decisions under
        `OUT/_work/<name>/`, and return a summary for the report."""

    @abstractmethod
    def for_shard(self, output: RunOutput, shard: str) -> Stage:
        """The per-document stage that applies the phase's decisions to one shard."""
