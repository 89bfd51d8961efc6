"""LSH banding: which (bands, rows) to use, what it promises, and the bucket keys it yields.

A pair with Jaccard similarity J shares at least one band (becomes a candidate) with
probability 1 − (1 − J^rows)^bands. The default banding is the most selective one — the
lowest probability at J = threshold − 0.3 — among those that still catch pairs halfway
between the threshold and identity ((1 + threshold) / 2, J = 0.9 for the usual 0.8) with
probability ≥ 0.995. With 256 permutations and threshold 0.8 that is 19 bands of 13 rows:
P(candidate | J=0.9) = 0.996, P(candidate | J=0.5) = 0.002.
"""

from __future__ import annotations

import numpy as np

from dedup.hashing import fmix

RECALL_TARGET = 0.995
ROW_MIX = np.uint64(0x9E3779B97F4A7C15)
EXACT_TAG = 1 << 20
"""Tag of the exact-text key; band b is tagged b, so keys of different kinds never meet."""
URL_TAG = (1 << 20) + 1


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - similarity**rows) ** bands


def default_banding(threshold: float, num_perm: int) -> tuple[int, int]:
    high, low = (1 + threshold) / 2, max(threshold - 0.3, 0.0)
    options = [
        (candidate_probability(low, num_perm // rows, rows), num_perm // rows, rows)
        for rows in range(1, num_perm + 1)
        if candidate_probability(high, num_perm // rows, rows) >= RECALL_TARGET
    ]
    if not options:
        return num_perm, 1
    _, bands, rows = min(options)
    return bands, rows


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) uint64: one bucket key per band, tagged with the band's number."""
    grouped = signatures[:, : bands * rows].reshape(len(signatures), bands, rows)
    keys = np.zeros((len(signatures), bands), np.uint64)
    for row in range(rows):
        keys = (keys ^ grouped[:, :, row].astype(np.uint64)) * ROW_MIX
    return tagged(keys, np.arange(bands, dtype=np.uint64))


def tagged(values: np.ndarray, tag: int | np.ndarray) -> np.ndarray:
    return fmix(values + np.asarray(tag, np.uint64) * ROW_MIX)
