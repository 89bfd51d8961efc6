"""What the mixture plan is made from: a token table's documents and tokens per source by
seeded sampling bucket, its held-out part, and what the tokens manifest says of a shard."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixing.mixture import BUCKETS, SourceCounts
from mixing.sampling import sample_buckets


def count_training(train: pa.Table, counts: dict[str, SourceCounts]) -> None:
    """Add `train`'s documents and tokens (columns `key`, `source`, `num_tokens`) by bucket."""
    buckets = sample_buckets(train.column("key").to_numpy())
    tokens = train.column("num_tokens").to_numpy()
    sources = train.column("source")
    for source in pc.unique(sources).to_pylist():
        mine = pc.equal(sources, source).to_numpy(zero_copy_only=False)
        entry = counts.setdefault(source, SourceCounts())
        entry.documents += np.bincount(buckets[mine], minlength=BUCKETS)
        entry.tokens += np.bincount(buckets[mine], weights=tokens[mine], minlength=BUCKETS).astype(
            np.int64
        )


def count_validation(val: pa.Table, counts: dict[str, SourceCounts]) -> None:
    """Add the held-out documents and tokens of `val`, per source."""
    for row in (
        val.group_by("source")
        .aggregate([("num_tokens", "sum"), ("num_tokens", "count")])
        .to_pylist()
    ):
        entry = counts.setdefault(row["source"], SourceCounts())
        entry.val_documents += row["num_tokens_count"]
        entry.val_tokens += row["num_tokens_sum"]


def shard_summary(path: str, split: str, table: pa.Table, sha256: str) -> dict:
    """What the manifest says about one token file (path relative to OUT/tokens/)."""
    by_source = sorted(
        table.group_by("source")
        .aggregate([("num_tokens", "sum"), ("num_tokens", "count")])
        .to_pylist(),
        key=lambda row: row["source"],
    )
    return {
        "path": path,
        "split": split,
        "rows": table.num_rows,
        "tokens": pc.sum(table.column("num_tokens")).as_py() or 0,
        "tokens_by_source": {row["source"]: row["num_tokens_sum"] for row in by_source},
        "rows_by_source": {row["source"]: row["num_tokens_count"] for row in by_source},
        "sha256": sha256,
    }
