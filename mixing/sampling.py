"""Applying the mixture plan to documents: each one's sampling bucket (from its seeded key),
and each one repeated as many times as its source's plan gives its bucket."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixing.keys import SAMPLE, derive, uniform
from mixing.mixture import BUCKETS, SourcePlan


def sample_buckets(keys: np.ndarray) -> np.ndarray:
    """Each document's sampling bucket, from its seeded key."""
    return (uniform(derive(keys, SAMPLE)) * BUCKETS).astype(np.int64)


def repeat(table: pa.Table, plans: dict[str, SourcePlan], documents: Counter[str]) -> pa.Table:
    """Each document (columns `key`, `source`) as many times as the plan says, with its
    `copy` number; `documents` counts, per source, those read (`.in`), kept (`.kept`, at
    least one copy) and the rows written (`.rows`)."""
    buckets = sample_buckets(table.column("key").to_numpy())
    copies = np.zeros(table.num_rows, np.int64)
    sources = table.column("source")
    for source in pc.unique(sources).to_pylist():
        mine = pc.equal(sources, source).to_numpy(zero_copy_only=False)
        copies[mine] = plans[source].copies(buckets[mine])
        documents[f"{source}.in"] += int(mine.sum())
        documents[f"{source}.kept"] += int((copies[mine] > 0).sum())
        documents[f"{source}.rows"] += int(copies[mine].sum())
    rows = np.repeat(np.arange(table.num_rows), copies)
    starts = np.repeat(np.cumsum(copies) - copies, copies)
    copy = np.arange(len(rows)) - starts
    return table.take(rows).append_column("copy", pa.array(copy.astype(np.int32)))
