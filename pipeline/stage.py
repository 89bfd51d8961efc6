"""What a stage is: a block that annotates a batch of documents and says what it would drop.

A stage never filters by itself. It returns a `Verdict`: the batch with its annotation
columns added, plus per-row reasons for removal and for errors (null where the document
stays). The shard runner does the selecting and the counting, so every stage conserves
`docs_in == kept + removed + errored` by construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel


@dataclass
class Verdict:
    table: pa.Table
    removed: pa.Array | None = None
    """Per row: why the document is removed (string), or null to keep it."""
    errored: pa.Array | None = None
    """Per row: why the document could not be processed (string), or null."""
    counters: dict[str, int] = field(default_factory=dict)
    """What the stage counted beyond documents, summed into the report: lines a line-level
    rule removed, PII entities by type, documents matching each benchmark, ..."""


class Stage(ABC):
    """Base of every per-document stage; subclasses set `name`, `Params` and `fields`."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    fields: ClassVar[tuple[pa.Field, ...]] = ()
    """Annotation columns this stage adds to every document."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    @abstractmethod
    def process(self, table: pa.Table) -> Verdict:
        """Annotate `table` and decide, row by row, what stays."""
