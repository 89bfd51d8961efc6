"""The global dedup step on Ray: signatures → buckets → candidate pairs → clusters → decisions.

1. One task per shard computes each document's keys (LSH bands, exact text, URL) and writes
   the shard's signature table plus its (key, document) pairs split into `partitions` by key.
2. One task per partition groups its pairs by key; each bucket of k documents yields k − 1
   edges (a star), so the edges never grow quadratically with a bucket.
3. One task joins the edges into connected components (scipy) and picks each cluster's
   survivor: a document of an earlier run's index first, then the highest quality_score,
   the earliest crawl_date, the first in the run's input order. It writes the decisions
   per shard.

Signatures and keys stay in files and are read a shard or a partition at a time. Only
step 3 is on one machine: it holds the edges (16 bytes each, at most one per shared key)
and the few columns of documents that have a duplicate, never the signatures — about
10⁸ edges in 2 GB. A document is known by `shard number << 32 | row`.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from dedup.keys import SIGNATURE_SCHEMA, KeyMaker
from dedup.params import DedupParams
from pipeline.faults import kill_point
from pipeline.output import WORK, RunOutput
from pipeline.phase import PhaseContext, PhaseSummary

SCRATCH = (WORK, "dedup")
"""The phase's intermediates: signatures, buckets, decisions."""
INDEX = ("dedup", "index")
READ_BATCH = 512
SAMPLE_CLUSTERS = 5
BUCKET_SCHEMA = pa.schema([pa.field("key", pa.uint64()), pa.field("document", pa.uint64())])
DECISION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("dup_cluster", pa.string()),
        pa.field("dup_cluster_size", pa.int32()),
    ]
)


@dataclass
class DedupSummary(PhaseSummary):
    """What the report shows of the dedup phase."""

    exact: bool
    url: bool
    minhash: dict[str, Any] | None
    """The banding and its candidate probabilities (`MinHashParams.describe`)."""
    documents: int
    clusters: int
    documents_in_clusters: int
    removed: dict[str, int]
    cluster_sizes: dict[str, int]
    sample_clusters: list[dict[str, Any]]


def run_dedup(params: DedupParams, context: PhaseContext) -> DedupSummary:
    output, console = context.output, context.console
    output.remove(*SCRATCH)  # what a run of the phase that did not finish left
    bands = params.minhash.describe() if params.minhash else None
    if params.minhash:
        console.print(
            f"dedup: {params.minhash.num_perm} permutations, {bands['bands']} bands × "
            f"{bands['rows']} rows: P(candidate | J=0.9) = {bands['p_candidate_at_0.9']:.4f}, "
            f"P(candidate | J=0.5) = {bands['p_candidate_at_0.5']:.6f}"
        )
    folder = INDEX if params.write_index else (*SCRATCH, "signatures")
    signatures = [(*folder, f"{shard}.parquet") for shard in context.shards]
    sources = [output.path(*parts) for parts in signatures]
    earlier = _index_files(params)
    sign = ray.remote(sign_shard).options(num_cpus=1)
    bucket = ray.remote(bucket_index).options(num_cpus=1)
    calls = [
        (sign, (output.url, output.path(*context.folder, f"{shard}.parquet"), parts, code, params))
        for code, (shard, parts) in enumerate(zip(context.shards, signatures, strict=True))
    ] + [
        (bucket, (output.url, source, len(sources) + n, params.partitions))
        for n, source in enumerate(earlier)
    ]
    documents = sum(context.run_tasks(calls, "dedup signatures"))
    kill_point("driver.dedup")
    if params.write_index:
        output.write_json(params.index_settings(), *INDEX, "index.json")
    group = ray.remote(group_partition).options(num_cpus=1)
    edges = [group.remote(output.url, part) for part in range(params.partitions)]
    resolve = ray.remote(resolve_clusters).options(num_cpus=1)
    inputs = [output.path(*context.folder, f"{shard}.parquet") for shard in context.shards]
    shards, excerpt = list(context.shards), context.excerpt_chars
    call = (resolve, (output.url, shards, sources + earlier, inputs, excerpt, *edges))
    [result] = context.run_tasks([call], "dedup clusters")
    return DedupSummary(
        exact=params.exact, url=params.url, minhash=bands, documents=documents, **result
    )


def sign_shard(out_url: str, shard_path: str, signature: tuple[str, ...], code: int, params) -> int:
    """Write one shard's signature table and its bucket pairs, a batch at a time (memory does
    not grow with the shard); returns its document count."""
    output = RunOutput(out_url)
    keys = KeyMaker(params)
    with ExitStack() as stack:
        parquet = pq.ParquetFile(stack.enter_context(output.fs.open(shard_path, "rb")))
        columns = [
            c
            for c in ("id", "text", "url", "crawl_date", "quality_score", "language")
            if c in parquet.schema_arrow.names
        ]
        sink = stack.enter_context(output.atomic(*signature))
        writer = stack.enter_context(pq.ParquetWriter(sink, SIGNATURE_SCHEMA, compression="zstd"))
        buckets = BucketWriter(output, code, params.partitions, stack)
        for batch in parquet.iter_batches(batch_size=READ_BATCH, columns=columns):
            table = keys.signature_table(pa.Table.from_batches([batch]))
            writer.write_table(table)
            kill_point("dedup.sign")
            buckets.add(table.column("keys"))
    return buckets.rows


def bucket_index(out_url: str, signature_path: str, code: int, partitions: int) -> int:
    """Bucket the keys of an earlier run's index shard like this run's own."""
    output = RunOutput(out_url)
    with ExitStack() as stack:
        parquet = pq.ParquetFile(stack.enter_context(output.fs.open(signature_path, "rb")))
        buckets = BucketWriter(output, code, partitions, stack)
        for batch in parquet.iter_batches(batch_size=READ_BATCH, columns=["keys"]):
            buckets.add(batch.column("keys"))
    return 0


class BucketWriter:
    """One shard's (key, document) pairs, split into the partitions by key as they come, and
    written a few MB at a time."""

    FLUSH_PAIRS = 1 << 18

    def __init__(self, output: RunOutput, code: int, partitions: int, stack: ExitStack) -> None:
        self.code = np.uint64(code) << np.uint64(32)
        self.rows = 0
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.writers = []
        for number in range(partitions):
            part = (*SCRATCH, "buckets", f"part-{number:04d}", f"{code:06d}.parquet")
            sink = stack.enter_context(output.atomic(*part))
            self.writers.append(stack.enter_context(pq.ParquetWriter(sink, BUCKET_SCHEMA)))
        stack.callback(self.flush)  # runs before the writers close

    def add(self, keys: pa.Array | pa.ChunkedArray) -> None:
        """The keys of the next documents of the shard (one list per document)."""
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        lengths = pc.list_value_length(keys).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(keys).to_numpy(zero_copy_only=False).astype(np.uint64)
        rows = np.repeat(np.arange(self.rows, self.rows + len(lengths), dtype=np.uint64), lengths)
        self.rows += len(lengths)
        self.pending.append((flat, self.code | rows))
        if sum(len(keys) for keys, _ in self.pending) >= self.FLUSH_PAIRS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        keys = np.concatenate([keys for keys, _ in self.pending])
        documents = np.concatenate([documents for _, documents in self.pending])
        self.pending = []
        part = keys % np.uint64(len(self.writers))
        for number, writer in enumerate(self.writers):
            chosen = part == number
            table = pa.table({"key": keys[chosen], "document": documents[chosen]})
            writer.write_table(table.cast(BUCKET_SCHEMA))


def group_partition(out_url: str, part: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges between documents that share a key in partition `part`: each bucket as a star."""
    output = RunOutput(out_url)
    folder = (*SCRATCH, "buckets", f"part-{part:04d}")
    tables = []
    for name in output.list(*folder, suffix=".parquet"):
        with output.fs.open(output.path(*folder, name), "rb") as handle:
            tables.append(pq.read_table(handle))
    kill_point("dedup.group")
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:  # no keys fell in this partition
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    keys = table.column("key").to_numpy()
    documents = table.column("document").to_numpy()
    order = np.lexsort((documents, keys))
    keys, documents = keys[order], documents[order]
    starts = np.concatenate([[True], keys[1:] != keys[:-1]])
    first = np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))
    pairs = np.stack([documents[first[~starts]], documents[~starts]], axis=1)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def resolve_clusters(
    out_url: str,
    shards: list[str],
    sources: list[str],
    inputs: list[str],
    excerpt_chars: int,
    *edges,
) -> dict[str, Any]:
    """Connected components of the edges, one survivor each, decisions written per shard."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    output = RunOutput(out_url)
    left = np.concatenate([e[0] for e in edges] or [np.zeros(0, np.uint64)])
    right = np.concatenate([e[1] for e in edges] or [np.zeros(0, np.uint64)])
    nodes, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
    graph = coo_matrix(
        (np.ones(len(left), np.int8), (inverse[: len(left)], inverse[len(left) :])),
        shape=(len(nodes), len(nodes)),
    )
    _, labels = connected_components(graph, directed=False)
    members = _members(output, nodes, sources)
    survivor = _survivors(labels, members, from_index=nodes >> np.uint64(32) >= len(shards))
    sizes = np.bincount(labels)
    reason = np.full(len(nodes), "near_duplicate", object)
    same_url = _equal(members["url"], survivor)
    reason[same_url] = "url_duplicate"
    reason[_equal(members["exact"], survivor)] = "exact_duplicate"
    reason[survivor == np.arange(len(nodes))] = None
    ids = members["id"]
    decisions = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "reason": pa.array(reason, pa.string()),
            "dup_cluster": pa.array(ids[survivor], pa.string()),
            "dup_cluster_size": pa.array(sizes[labels], pa.int32()),
        },
        schema=DECISION_SCHEMA,
    )
    codes = (nodes >> np.uint64(32)).astype(np.int64)
    for code, shard in enumerate(shards):
        with output.atomic(*SCRATCH, "decisions", f"{shard}.parquet") as handle:
            pq.write_table(decisions.filter(pa.array(codes == code)), handle)
    in_run = codes < len(shards)
    run_labels = np.unique(labels[in_run])
    removed = Counter(r for r in reason[in_run] if r is not None)
    return {
        "clusters": len(run_labels),
        "documents_in_clusters": int(in_run.sum()),
        "removed": dict(sorted(removed.items())),
        "cluster_sizes": _histogram(sizes[run_labels]),
        "sample_clusters": _samples(
            output, labels, survivor, codes, members, reason, inputs, excerpt_chars
        ),
    }


def _members(output: RunOutput, nodes: np.ndarray, sources: list[str]) -> dict[str, np.ndarray]:
    """id, exact, url, quality_score, crawl_date of each node, from the signature tables."""
    codes = nodes >> np.uint64(32)
    rows = (nodes & np.uint64(0xFFFFFFFF)).astype(np.int64)
    parts = []
    for code in np.unique(codes):
        chosen = codes == code
        with output.fs.open(sources[int(code)], "rb") as handle:
            table = pq.read_table(
                handle, columns=["id", "exact", "url", "quality_score", "crawl_date"]
            )
        parts.append(table.take(pa.array(rows[chosen])))
    schema = pa.schema([f for f in SIGNATURE_SCHEMA if f.name != "keys"])
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    return {
        "id": np.asarray(table.column("id").to_pylist(), object),
        "exact": pc.fill_null(table.column("exact"), 0).to_numpy(),
        "url": pc.fill_null(table.column("url"), 0).to_numpy(),
        "quality": pc.fill_null(table.column("quality_score"), np.nan).to_numpy(),
        "date": pc.fill_null(
            table.column("crawl_date").cast(pa.int64()), np.iinfo(np.int64).max
        ).to_numpy(),
    }


def _survivors(
    labels: np.ndarray, members: dict[str, np.ndarray], from_index: np.ndarray
) -> np.ndarray:
    """For each node, the node that survives its cluster. Nodes come in the run's input
    order (shard, then row), and the sort is stable: on a tie the first one wins."""
    quality = np.where(np.isnan(members["quality"]), np.inf, -members["quality"])
    order = np.lexsort((members["date"], quality, ~from_index, labels))
    first = np.ones(len(order), bool)  # the first node of each cluster in `order`
    first[1:] = labels[order][1:] != labels[order][:-1]
    best = np.empty(labels.max() + 1 if len(labels) else 0, np.int64)
    best[labels[order][first]] = order[first]
    return best[labels]


def _equal(hashes: np.ndarray, survivor: np.ndarray) -> np.ndarray:
    """hashes[i] == hashes[survivor[i]], false where missing (0 stands for null)."""
    return (hashes != 0) & (hashes == hashes[survivor])


def _histogram(sizes: np.ndarray) -> dict[str, int]:
    counts = Counter(int(s) for s in sizes)
    return {str(size): counts[size] for size in sorted(counts)}


def _samples(
    output, labels, survivor, codes, members, reason, inputs, excerpt_chars
) -> list[dict[str, Any]]:
    """The largest clusters that a document of this run survives: survivor and two copies."""
    in_run = codes[survivor] < len(inputs)
    sizes = np.bincount(labels)
    heads = np.unique(survivor[in_run])
    heads = sorted(heads, key=lambda h: (-sizes[labels[h]], h))[:SAMPLE_CLUSTERS]
    wanted = {
        int(h): [int(h), *np.flatnonzero((survivor == h) & (np.arange(len(survivor)) != h))[:2]]
        for h in heads
    }
    shown = [n for chosen in wanted.values() for n in chosen]
    texts = _texts(output, inputs, codes, members["id"], shown, excerpt_chars)
    return [
        {
            "size": int(sizes[labels[head]]),
            "survivor": {"id": members["id"][head], "excerpt": texts.get(head, "")},
            "removed": [
                {"id": members["id"][n], "reason": reason[n], "excerpt": texts.get(n, "")}
                for n in nodes[1:]
            ],
        }
        for head, nodes in wanted.items()
    ]


def _texts(output, inputs, codes, ids, nodes, excerpt_chars) -> dict[int, str]:
    found: dict[int, str] = {}
    for code in sorted({int(codes[n]) for n in nodes}):
        chosen = [n for n in nodes if codes[n] == code]
        with output.fs.open(inputs[code], "rb") as handle:
            table = pq.read_table(handle, columns=["id", "text"])
        table = table.filter(
            pc.is_in(table.column("id"), pa.array([ids[n] for n in chosen], pa.string()))
        )
        by_id = dict(
            zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True)
        )
        found.update({n: (by_id.get(ids[n]) or "")[:excerpt_chars] for n in chosen})
    return found


def _index_files(params: DedupParams) -> list[str]:
    """The signature tables of the earlier runs' indexes (checked with the config to match
    this run's keys: `DedupParams.against`)."""
    files = []
    for location in params.against:
        index = RunOutput(location)
        files += [index.path(name) for name in index.list(suffix=".parquet")]
    return files
