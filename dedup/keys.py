"""Bucket keys of each document: its LSH band keys, its exact-text key, its URL key.

Two documents that share any key are candidates for the same cluster. The keys, with what
survivor choice needs (id, quality_score, crawl_date, exact and URL hashes), form one row
per document of a shard's signature table, which is also the incremental index format.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.banding import EXACT_TAG, URL_TAG, band_keys, tagged
from dedup.hashing import ByteHasher, string_buffer
from dedup.minhash import MinHasher, shingle_batch
from dedup.params import DedupParams
from dedup.words import Spacer

SIGNATURE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("exact", pa.uint64()),
        pa.field("url", pa.uint64()),
        pa.field("quality_score", pa.float64()),
        pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
        pa.field("keys", pa.list_(pa.uint64())),
    ]
)


class KeyMaker:
    def __init__(self, params: DedupParams) -> None:
        self.params = params
        minhash = params.minhash
        self.minhasher = MinHasher(minhash.num_perm, minhash.seed) if minhash else None
        self.banding = minhash.banding() if minhash else None
        self.spacer = Spacer() if minhash and minhash.per_language else None

    def signature_table(self, batch: pa.Table) -> pa.Table:
        """One row per document of `batch`: its keys and its survivor-choice columns."""
        count = batch.num_rows
        ngram = self.params.minhash.ngram if self.params.minhash else 1
        respace = None
        if self.spacer is not None and "language" in batch.column_names:
            respace = partial(self.spacer.spaced, languages=batch.column("language"))
        shingled = shingle_batch(batch.column("text"), ngram, respace)
        has_words = shingled.words > 0
        columns: list[tuple[np.ndarray, np.ndarray]] = []
        if self.minhasher is not None:
            signatures = self.minhasher.signatures(shingled, count)
            bands = band_keys(signatures, *self.banding)
            columns += [(bands[:, band], has_words) for band in range(bands.shape[1])]
        exact = tagged(shingled.text_hashes, EXACT_TAG)
        if self.params.exact:
            columns.append((exact, has_words))
        url, has_url = url_hashes(batch)
        if self.params.url:
            columns.append((url, has_url))
        return pa.table(
            {
                "id": batch.column("id"),
                "exact": pa.array(exact, mask=~has_words),
                "url": pa.array(url, mask=~has_url),
                "quality_score": _column(batch, "quality_score", pa.float64()),
                "crawl_date": _column(
                    batch, "crawl_date", SIGNATURE_SCHEMA.field("crawl_date").type
                ),
                "keys": _lists(columns, count),
            },
            schema=SIGNATURE_SCHEMA,
        )


def url_hashes(batch: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """A tagged hash of each document's URL, and which documents have one."""
    urls = pc.fill_null(_column(batch, "url", pa.string()), "").cast(pa.large_string())
    if isinstance(urls, pa.ChunkedArray):
        urls = urls.combine_chunks()
    data, offsets = string_buffer(urls)
    present = offsets[1:] > offsets[:-1]
    hashes = np.zeros(len(urls), np.uint64)
    hashes[present] = ByteHasher(data).ranges(offsets[:-1][present], offsets[1:][present])
    return tagged(hashes, URL_TAG), present


def _column(batch: pa.Table, name: str, kind: pa.DataType) -> pa.Array:
    if name not in batch.column_names:
        return pa.nulls(batch.num_rows, kind)
    return batch.column(name).cast(kind)


def _lists(columns: list[tuple[np.ndarray, np.ndarray]], count: int) -> pa.Array:
    """Per document, the keys of `columns` whose validity mask is set, as list<uint64>."""
    if not columns:
        return pa.array([[]] * count, pa.list_(pa.uint64()))
    keys = np.stack([values for values, _ in columns], axis=1)
    valid = np.stack([mask for _, mask in columns], axis=1)
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(keys[valid], pa.uint64()))
