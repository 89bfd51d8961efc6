"""Fixed-bin histograms of the documents' signals, merged across batches and shards.

Each signal's bins are fixed before any data is seen, so a shard's partial histogram is a
vector of counts and merging is addition: memory does not grow with the data. Values
outside the bins are counted in the first or last bin (the exact minimum and maximum are
kept beside the counts); nulls and NaNs are counted as `missing`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def log_edges(low: float, high: float, per_decade: int) -> tuple[float, ...]:
    decades = round(np.log10(high / low))
    return tuple(
        float(x) for x in np.logspace(np.log10(low), np.log10(high), decades * per_decade + 1)
    )


def linear_edges(low: float, high: float, bins: int) -> tuple[float, ...]:
    return tuple(float(x) for x in np.linspace(low, high, bins + 1))


def count_edges(first: int, doublings: int) -> tuple[float, ...]:
    """Bins for counts: each value of `first`, `first`+1, then doubling widths: 1, 2, 3-4, 5-8, ..."""
    return (float(first), *(float(first + 2**i) for i in range(doublings + 1)))


@dataclass(frozen=True)
class Signal:
    """A number per document the report draws a histogram of."""

    name: str
    description: str
    edges: tuple[float, ...]
    scale: str
    """How the bins are spaced, for drawing: `log`, `linear` or `count`."""
    column: str
    measure: Callable[[pa.ChunkedArray], pa.ChunkedArray] | None = None
    """Derives the value from the column (e.g. text → its length); None: the column itself."""

    def values(self, table: pa.Table) -> pa.ChunkedArray | None:
        if self.column not in table.column_names:
            return None
        column = table.column(self.column)
        return self.measure(column) if self.measure else column


SIGNALS = (
    Signal("length", "characters of text", log_edges(1, 1e7, 4), "log", "text", pc.utf8_length),
    Signal(
        "language_score",
        "language ID confidence",
        linear_edges(0, 1, 20),
        "linear",
        "language_score",
    ),
    Signal(
        "quality_score",
        "quality classifier score",
        linear_edges(0, 1, 20),
        "linear",
        "quality_score",
    ),
    Signal("perplexity", "KenLM perplexity", log_edges(1, 1e6, 10), "log", "perplexity"),
    Signal(
        "dup_cluster_size",
        "documents in its duplicate cluster",
        count_edges(1, 16),
        "count",
        "dup_cluster_size",
    ),
    Signal("pii_count", "PII entities found", count_edges(0, 16), "count", "pii_count"),
)
"""The signals DESIGN.md names; a histogram exists only where its column does."""


@dataclass
class Histogram:
    edges: tuple[float, ...]
    counts: np.ndarray = field(default=None)  # type: ignore[assignment]
    missing: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.counts is None:
            self.counts = np.zeros(len(self.edges) - 1, dtype=np.int64)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def add(self, values: pa.ChunkedArray | pa.Array) -> None:
        present = pc.drop_null(values).to_numpy().astype(np.float64)
        finite = np.isfinite(present)
        self.missing += values.null_count + int(present.size - finite.sum())
        present = present[finite]
        if present.size == 0:
            return
        clipped = np.clip(present, self.edges[0], self.edges[-1])
        self.counts += np.histogram(clipped, bins=self.edges)[0]
        self.total += float(present.sum())
        self.minimum = _either(min, self.minimum, float(present.min()))
        self.maximum = _either(max, self.maximum, float(present.max()))

    def merge(self, other: Histogram) -> None:
        self.counts += other.counts
        self.missing += other.missing
        self.total += other.total
        self.minimum = _either(min, self.minimum, other.minimum)
        self.maximum = _either(max, self.maximum, other.maximum)

    def quantile(self, q: float, discrete: bool = False) -> float | None:
        """Approximate quantile: linear within the bin that holds it, inside [min, max]
        (the outer bins stretched to the extremes that were clipped into them); for
        `discrete` counts, the lowest value of that bin."""
        count = self.count
        if count == 0:
            return None
        edges = np.array(self.edges)
        edges[0], edges[-1] = min(edges[0], self.minimum), max(edges[-1], self.maximum)
        edges = np.clip(edges, self.minimum, self.maximum)
        cumulative = np.cumsum(self.counts)
        target = q * count
        index = int(np.searchsorted(cumulative, target))
        before = cumulative[index - 1] if index else 0
        inside = (target - before) / self.counts[index] if self.counts[index] else 0.0
        if discrete:
            return float(edges[index])
        return float(edges[index] + inside * (edges[index + 1] - edges[index]))

    def to_json(self) -> dict[str, Any]:
        count = self.count
        return {
            "edges": list(self.edges),
            "counts": self.counts.tolist(),
            "count": count,
            "missing": self.missing,
            "mean": self.total / count if count else None,
            "min": self.minimum,
            "max": self.maximum,
            "total": self.total,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        return cls(
            edges=tuple(data["edges"]),
            counts=np.asarray(data["counts"], dtype=np.int64),
            missing=data["missing"],
            total=data["total"],
            minimum=data["min"],
            maximum=data["max"],
        )


def _either(
    pick: Callable[[float, float], float], a: float | None, b: float | None
) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return pick(a, b)
