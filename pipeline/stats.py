"""Per-stage counters, merged from shards into the run's funnel.

Counts are in documents (records, for the reader). Each stage conserves
`docs_in == kept + sum(removed) + sum(errored)`; `check` says where that fails.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.domains import Domains
from pipeline.sample import keep_lowest

SAMPLES_PER_REASON = 6


@dataclass
class StageStats:
    docs_in: int = 0
    kept: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    errored: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    """Stage-specific counts (`Verdict.counters`), e.g. `lines_removed.c4_javascript`."""
    bytes_in: int = 0
    bytes_kept: int = 0
    bytes_dropped: Counter[str] = field(default_factory=Counter)
    """Bytes of the documents removed or errored, by reason."""
    elapsed_s: float = 0.0
    """Seconds deciding: the stage's work on its batches."""
    startup_s: float = 0.0
    """Seconds getting ready in each task: building the stage, loading its models (once per
    worker process; later tasks reuse them), starting its sandbox, and in a sandbox loading
    what a batch needs first (`Stage.load_for`: a language's word rules)."""

    def merge(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.kept += other.kept
        self.removed.update(other.removed)
        self.errored.update(other.errored)
        self.counters.update(other.counters)
        self.bytes_in += other.bytes_in
        self.bytes_kept += other.bytes_kept
        self.bytes_dropped.update(other.bytes_dropped)
        self.elapsed_s += other.elapsed_s
        self.startup_s += other.startup_s

    def conserved(self) -> bool:
        return self.docs_in == self.kept + sum(self.removed.values()) + sum(self.errored.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "kept": self.kept,
            "removed": _nonzero(self.removed),
            "errored": _nonzero(self.errored),
            "counters": _nonzero(self.counters),
            "bytes_in": self.bytes_in,
            "bytes_kept": self.bytes_kept,
            "bytes_dropped": dict(sorted(self.bytes_dropped.items())),
            "elapsed_s": round(self.elapsed_s, 3),
            "startup_s": round(self.startup_s, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            docs_in=data["docs_in"],
            kept=data["kept"],
            removed=Counter(data["removed"]),
            errored=Counter(data["errored"]),
            counters=Counter(data.get("counters", {})),
            bytes_in=data["bytes_in"],
            bytes_kept=data["bytes_kept"],
            bytes_dropped=Counter(data.get("bytes_dropped", {})),
            elapsed_s=data["elapsed_s"],
            startup_s=data.get("startup_s", 0.0),
        )


@dataclass
class Funnel:
    """Stats of each stage in plan order, plus a bounded uniform sample of what each reason
    removed."""

    stages: dict[str, StageStats] = field(default_factory=dict)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    domains: Domains = field(default_factory=Domains)
    """Per web domain: documents kept, and dropped by stage and reason."""

    def stage(self, name: str) -> StageStats:
        return self.stages.setdefault(name, StageStats())

    def add_samples(self, stage: str, reason: str, entries: list[dict[str, Any]]) -> None:
        """Keep the lowest-ranked entries per reason (`pipeline.sample`): a uniform sample."""
        reasons = self.samples.setdefault(stage, {})
        reasons[reason] = keep_lowest([*reasons.get(reason, []), *entries], SAMPLES_PER_REASON)

    def merge(self, other: Funnel) -> None:
        for name, stats in other.stages.items():
            self.stage(name).merge(stats)
        for stage, reasons in other.samples.items():
            for reason, entries in reasons.items():
                self.add_samples(stage, reason, entries)
        self.domains.merge(other.domains)

    def problems(self) -> list[str]:
        """Every place where counts are not conserved, within or between stages."""
        found = [
            f"{name}: in != kept + removed + errored"
            for name, stats in self.stages.items()
            if not stats.conserved()
        ]
        ordered = list(self.stages.items())
        for (before, upstream), (after, downstream) in itertools.pairwise(ordered):
            if upstream.kept != downstream.docs_in:
                found.append(f"{after}: {downstream.docs_in} in, but {before} kept {upstream.kept}")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "stages": [{"stage": name, **stats.to_json()} for name, stats in self.stages.items()],
            "samples": self.samples,
            "domains": self.domains.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Funnel:
        funnel = cls(
            samples=data.get("samples", {}), domains=Domains.from_json(data.get("domains", {}))
        )
        for entry in data["stages"]:
            funnel.stages[entry["stage"]] = StageStats.from_json(entry)
        return funnel


def _nonzero(counts: Counter[str]) -> dict[str, int]:
    return {key: n for key, n in sorted(counts.items()) if n}
