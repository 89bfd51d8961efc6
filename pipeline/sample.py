"""Bounded, uniform samples of documents for the report, merged across batches and shards.

Every document draws a random rank in [0, 1) and a sample keeps the documents with the
smallest ranks (bottom-k sampling). The smallest k of a union are the smallest k of each
part's smallest k, so per-shard samples merge exactly into a uniform sample of the run,
in memory bounded by k. Ranks come from a generator seeded by the shard's name, so a
rerun samples the same documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

EXCERPT_CHARS = 400


def shard_rng(shard: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(shard.encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def lowest(
    table: pa.Table, ranks: np.ndarray, k: int, signals: Sequence[str]
) -> list[dict[str, Any]]:
    """The (at most) `k` rows of `table` with the smallest `ranks`, as sample entries."""
    if table.num_rows == 0 or k <= 0:
        return []
    picked = np.argsort(ranks, kind="stable")[:k]
    rows = table.take(pa.array(picked)).to_pylist()
    return [describe(row, float(ranks[i]), signals) for row, i in zip(rows, picked, strict=True)]


def describe(row: dict[str, Any], rank: float, signals: Sequence[str]) -> dict[str, Any]:
    """What the report shows of one document: where it came from, its start, its signals,
    and for a removed one what decided it (`detail`), where its stage says."""
    text = row.get("text") or ""
    return {
        "id": row.get("id"),
        "url": row.get("url"),
        "source": row.get("source"),
        "chars": len(text),
        "excerpt": text[:EXCERPT_CHARS],
        "signals": {name: row[name] for name in signals if row.get(name) is not None},
        **({"detail": row["detail"]} if row.get("detail") else {}),
        "rank": rank,
    }


def keep_lowest(entries: Iterable[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda entry: entry["rank"])[:k]
