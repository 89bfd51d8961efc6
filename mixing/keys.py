"""Seeded per-document random numbers that do not depend on where a document is read.

Every sampling decision (the tokenizer's sample, validation split, down-sampling, the
remainder of up-sampling, output shard, order within a shard) is a pure function of the
seed, the document's text, the purpose and the copy number, so a rerun, a run with
different workers, or a run of the same inputs in another folder or on another machine
makes the same choices. Not the id: it hashes the input's absolute path. Documents with the
same text draw alike, so a repeated text lands on one side of the validation split. Texts
are hashed with blake2b, one call per text (no Arrow kernel hashes strings); the rest is
numpy over the whole batch.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def text_keys(texts: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """A uint64 per text (none null), seeded."""
    salt = seed.to_bytes(8, "little", signed=True)
    digests = b"".join(
        hashlib.blake2b(value.encode(), digest_size=8, salt=salt).digest()
        for value in texts.to_pylist()
    )
    return np.frombuffer(digests, np.uint64).copy()


def derive(keys: np.ndarray, purpose: int, copy: np.ndarray | int = 0) -> np.ndarray:
    """Independent keys for another purpose or copy (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = keys ^ (np.uint64(purpose) * _GOLDEN) ^ (np.asarray(copy, np.uint64) << np.uint64(40))
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def uniform(keys: np.ndarray) -> np.ndarray:
    """Keys as floats in [0, 1)."""
    return (keys >> np.uint64(11)).astype(np.float64) / float(1 << 53)


VALIDATION, SAMPLE, SHARD, ORDER = 1, 2, 3, 4
"""Purposes of derived keys."""
