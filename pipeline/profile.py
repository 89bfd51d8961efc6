"""What the kept documents look like: per source and language, histograms, a sample.

Collected by the shard task over each batch it writes (vectorised over the Arrow batch),
stored with the shard's result, and merged into the run's report without a second pass
over the data. Memory is bounded: a row per source and language, fixed-bin histograms,
and a bottom-k sample. A phase that rewrites document shards (a global dedup, say)
collects a new `Profile` over what it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.documents import BASE_FIELDS
from pipeline.histogram import SIGNALS, Histogram
from pipeline.sample import keep_lowest, lowest

KEPT_SAMPLES = 24
BASE_NAMES = frozenset(f.name for f in BASE_FIELDS)


@dataclass
class Tally:
    documents: int = 0
    bytes: int = 0


@dataclass
class Profile:
    sources: dict[str, Tally] = field(default_factory=dict)
    languages: dict[str, Tally] = field(default_factory=dict)
    """Only when a `language` column exists; null languages count as `unknown`."""
    histograms: dict[str, Histogram] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, table: pa.Table, ranks: np.ndarray) -> None:
        """Count the documents of `table`; `ranks` (one per row) decide the sample."""
        if table.num_rows == 0:
            return
        sized = table.append_column("_bytes", pc.binary_length(table.column("text")))
        _tally(self.sources, sized, "source")
        if "language" in table.column_names:
            _tally(self.languages, sized, "language")
        for signal in SIGNALS:
            values = signal.values(table)
            if values is not None:
                self.histograms.setdefault(signal.name, Histogram(signal.edges)).add(values)
        signals = [name for name in table.column_names if name not in BASE_NAMES]
        candidates = lowest(table, ranks, KEPT_SAMPLES, signals)
        self.samples = keep_lowest([*self.samples, *candidates], KEPT_SAMPLES)

    def merge(self, other: Profile) -> None:
        for mine, theirs in ((self.sources, other.sources), (self.languages, other.languages)):
            for key, tally in theirs.items():
                total = mine.setdefault(key, Tally())
                total.documents += tally.documents
                total.bytes += tally.bytes
        for name, histogram in other.histograms.items():
            if name in self.histograms:
                self.histograms[name].merge(histogram)
            else:
                self.histograms[name] = Histogram.from_json(histogram.to_json())
        self.samples = keep_lowest([*self.samples, *other.samples], KEPT_SAMPLES)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": _tallies_to_json(self.sources),
            "languages": _tallies_to_json(self.languages),
            "histograms": {name: h.to_json() for name, h in self.histograms.items()},
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        return cls(
            sources={row["name"]: Tally(row["documents"], row["bytes"]) for row in data["sources"]},
            languages={
                row["name"]: Tally(row["documents"], row["bytes"]) for row in data["languages"]
            },
            histograms={name: Histogram.from_json(h) for name, h in data["histograms"].items()},
            samples=data["samples"],
        )


def _tally(tallies: dict[str, Tally], table: pa.Table, key: str) -> None:
    keyed = table.select([key, "_bytes"]).cast(
        pa.schema([pa.field(key, pa.string()), pa.field("_bytes", pa.int64())])
    )
    grouped = keyed.group_by(key).aggregate([([], "count_all"), ("_bytes", "sum")])
    for row in grouped.to_pylist():
        tally = tallies.setdefault(row[key] or "unknown", Tally())
        tally.documents += row["count_all"]
        tally.bytes += row["_bytes_sum"] or 0


def _tallies_to_json(tallies: dict[str, Tally]) -> list[dict[str, Any]]:
    ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].documents, kv[0]))
    return [{"name": name, "documents": t.documents, "bytes": t.bytes} for name, t in ordered]
