"""The mixture plan: from per-source token counts to how often each document is used.

Each source's training documents are counted in a histogram over their seeded sampling
key (`BUCKETS` buckets of documents and of tokens). A source used `e` epochs gets
`floor(e)` copies of every document plus one more copy of the documents in the lowest
buckets, as many buckets as bring its tokens closest to the remainder; `e < 1` is the same
rule with no whole copies, so the documents above that bucket are down-sampled. Because
the decision is by bucket, the plan knows exactly what the shards will hold before any
of them is written, and the realised share misses the requested one by at most one
bucket's tokens (one or two documents on small data, 1/BUCKETS of a source on large).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixing.config import MixtureConfig
from pipeline.schema import ConfigError

BUCKETS = 4096


@dataclass
class SourceCounts:
    """Training documents and tokens of one source by sampling bucket, plus its held-out part."""

    documents: np.ndarray = field(default_factory=lambda: np.zeros(BUCKETS, np.int64))
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(BUCKETS, np.int64))
    val_documents: int = 0
    val_tokens: int = 0

    def merge(self, other: SourceCounts) -> None:
        self.documents += other.documents
        self.tokens += other.tokens
        self.val_documents += other.val_documents
        self.val_tokens += other.val_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents.tolist(),
            "tokens": self.tokens.tolist(),
            "val_documents": self.val_documents,
            "val_tokens": self.val_tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceCounts:
        return cls(
            documents=np.asarray(data["documents"], np.int64),
            tokens=np.asarray(data["tokens"], np.int64),
            val_documents=data["val_documents"],
            val_tokens=data["val_tokens"],
        )


@dataclass(frozen=True)
class SourcePlan:
    source: str
    requested_share: float
    requested_epochs: float
    full_copies: int
    """Every training document of the source appears this many times..."""
    partial_buckets: int
    """...plus once more if its sampling bucket is below this."""
    available_documents: int
    available_tokens: int
    realised_documents: int
    """Training rows: documents times their copies."""
    realised_tokens: int

    @property
    def kept_documents(self) -> int:
        return self.available_documents if self.full_copies else self.realised_documents

    @property
    def downsampled(self) -> int:
        return self.available_documents - self.kept_documents

    def copies(self, buckets: np.ndarray) -> np.ndarray:
        """How many times each document (given its sampling bucket) goes into training."""
        return self.full_copies + (buckets < self.partial_buckets).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "requested_share": self.requested_share,
            "requested_epochs": self.requested_epochs,
            "full_copies": self.full_copies,
            "partial_buckets": self.partial_buckets,
            "available_documents": self.available_documents,
            "available_tokens": self.available_tokens,
            "realised_documents": self.realised_documents,
            "realised_tokens": self.realised_tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourcePlan:
        return cls(**data)


def plan_mixture(config: MixtureConfig, counts: dict[str, SourceCounts]) -> list[SourcePlan]:
    _refuse_holding_out_everything(config, counts)
    available = {source: int(c.tokens.sum()) for source, c in counts.items()}
    epochs = requested_epochs(config, available)
    requested = {source: epochs[source] * available[source] for source in counts}
    total_requested = sum(requested.values()) or 1
    plans = [
        _plan_source(source, counts[source], epochs[source], requested[source] / total_requested)
        for source in counts
    ]
    for plan in plans:
        _refuse_drawing_nothing(plan, counts[plan.source])
    return plans


def _refuse_holding_out_everything(config: MixtureConfig, counts: dict[str, SourceCounts]) -> None:
    """A ConfigError where the validation draw took every document of a source the mixture
    asks for, which would otherwise read as if the stages had kept none."""
    if config.weights is not None:
        asked = {source for source, weight in config.weights.items() if weight}
    else:
        asked = {source for source in counts if (config.epochs or {}).get(source, 1.0)}
    held_out = sorted(
        source
        for source in asked & counts.keys()
        if counts[source].val_documents and not counts[source].tokens.any()
    )
    if held_out:
        documents = sum(counts[source].val_documents for source in held_out)
        raise ConfigError(
            f"mixture.validation: {config.validation:g} held out every document of "
            f"{', '.join(held_out)} ({documents:,}), leaving none to train on; hold out a "
            "smaller share"
        )


def _refuse_drawing_nothing(plan: SourcePlan, counts: SourceCounts) -> None:
    """A ConfigError where a source asked for gets no training token: its part of the
    budget is nearer none than its first bucket of documents (a small target, long
    documents). The run would otherwise end with shards that lack it, or no training
    shards at all."""
    if plan.requested_epochs == 0 or plan.available_tokens == 0 or plan.realised_tokens:
        return
    first = int(counts.tokens[np.flatnonzero(counts.tokens)[0]])
    asked = plan.requested_epochs * plan.available_tokens
    raise ConfigError(
        f"mixture: {plan.source} would give no training tokens: its part of the budget, "
        f"{asked:,.0f} tokens, is nearer none than its first documents in sampling order "
        f"({first:,} tokens); give it a larger part (mixture.target_tokens, weights or epochs)"
    )


def requested_epochs(config: MixtureConfig, available: dict[str, int]) -> dict[str, float]:
    """Source → passes over its `available` training tokens that the config asks for."""
    budget = config.budget()
    if config.epochs is not None:
        return {source: config.epochs.get(source, 1.0) for source in available}
    if config.weights is None:
        scale = budget / max(sum(available.values()), 1) if budget else 1.0
        return dict.fromkeys(available, scale)
    # A weighted source the stages kept nothing of is absent from `available`.
    empty = sorted(s for s, weight in config.weights.items() if weight and not available.get(s))
    if empty:
        raise ConfigError(
            f"mixture.weights: {', '.join(empty)}: no training tokens to weight (no document "
            "of it was kept: the report's funnel says where they went); give it weight 0 to mix "
            "the others alone"
        )
    total_weight = sum(config.weights.values())
    shares = {source: config.weights.get(source, 0.0) / total_weight for source in available}
    if budget is None:  # the largest budget that repeats no document
        budget = min(available[s] / share for s, share in shares.items() if share > 0)
    return {
        source: (share * budget / available[source] if share else 0.0)
        for source, share in shares.items()
    }


def _plan_source(source: str, counts: SourceCounts, epochs: float, share: float) -> SourcePlan:
    full_copies = math.floor(epochs)
    available_tokens = int(counts.tokens.sum())
    cumulative_tokens = np.concatenate([[0], np.cumsum(counts.tokens)])
    remainder = (epochs - full_copies) * available_tokens
    partial = int(np.argmin(np.abs(cumulative_tokens - remainder)))
    available_documents = int(counts.documents.sum())
    return SourcePlan(
        source=source,
        requested_share=share,
        requested_epochs=epochs,
        full_copies=full_copies,
        partial_buckets=partial,
        available_documents=available_documents,
        available_tokens=available_tokens,
        realised_documents=full_copies * available_documents
        + int(counts.documents[:partial].sum()),
        realised_tokens=full_copies * available_tokens + int(cumulative_tokens[partial]),
    )
