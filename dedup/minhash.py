"""MinHash signatures of word n-gram shingles for a whole batch of documents at once.

The semantics are datasketch's (`MinHash(num_perm, seed, hashfunc=shingle_hash)`, scheme
"affine32", its permutations drawn as it draws them): each shingle's 32-bit hash is
pre-mixed with the MurmurHash3 finaliser, permuted by `a·h + b mod 2³²`, and the signature
is the per-permutation minimum. Instead of one Python call per shingle, every shingle of the
batch is hashed from prefix sums over the normalised bytes and the permutations run as one
numpy array operation per chunk, so a signature equals datasketch's bit for bit.
A document shorter than `ngram` words is one shingle; one without words keeps datasketch's
empty signature (all 0xFFFFFFFF) and is left out of near-duplicate matching.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dedup.hashing import ByteHasher, fmix, hash32, hash_bytes, normalise, string_buffer

SHINGLES_PER_CHUNK = 4_096
EMPTY = np.uint32(0xFFFFFFFF)


def shingle_hash(shingle: str | bytes) -> int:
    """The 32-bit hash of one shingle (its words joined by single spaces): datasketch's hashfunc."""
    data = shingle.encode() if isinstance(shingle, str) else shingle
    return int(hash32(np.array([hash_bytes(data)], np.uint64))[0])


def shingles(normalised_text: str, ngram: int) -> list[str]:
    """The shingles of one normalised text, as strings (for datasketch and for tests)."""
    words = normalised_text.split(" ") if normalised_text else []
    if 0 < len(words) < ngram:
        return [" ".join(words)]
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


@dataclass
class Shingled:
    """The shingles of a batch: each one's 32-bit hash and its document's position."""

    hashes: np.ndarray
    documents: np.ndarray
    text_hashes: np.ndarray
    """64-bit hash of each whole normalised text (0 for an empty one)."""
    words: np.ndarray
    """Words per document."""


def shingle_batch(
    texts: pa.Array | pa.ChunkedArray,
    ngram: int,
    respace: Callable[[pa.Array], pa.Array] | None = None,
) -> Shingled:
    """The shingles of `texts` normalised; `respace` puts spaces between the words of a
    normalised text where spaces do not (`dedup.words`). The exact keys (`text_hashes`) are
    those of the normalised texts either way."""
    normalised = normalise(texts)
    worded = normalised if respace is None else respace(normalised)
    shingled = _shingled(worded, ngram)
    if worded is not normalised:
        shingled.text_hashes = _text_hashes(*string_buffer(normalised))
    return shingled


def _shingled(normalised: pa.Array, ngram: int) -> Shingled:
    data, offsets = string_buffer(normalised)
    hasher = ByteHasher(data)
    starts, ends, word_docs = _words(data, offsets)
    count = len(offsets) - 1
    words = np.bincount(word_docs, minlength=count)
    # word i starts a shingle ending at word i+n-1 when both are in one document; a document
    # with fewer words than `ngram` is one shingle, from its first word to its last
    first_word = np.cumsum(words) - words
    last_word = first_word + words - 1
    index = np.arange(len(starts))
    end_word = index + ngram - 1
    full = end_word < len(starts)
    full[full] = word_docs[end_word[full]] == word_docs[full]
    short = np.zeros(len(starts), bool)
    short_docs = (words > 0) & (words < ngram)
    short[first_word[short_docs]] = True
    end_word = np.where(short, last_word[word_docs], end_word)
    chosen = full | short
    hashes = hash32(hasher.ranges(starts[chosen], ends[end_word[chosen]]))
    text_hashes = _text_hashes(data, offsets, hasher)
    return Shingled(hashes, word_docs[chosen], text_hashes, words)


def _text_hashes(
    data: np.ndarray, offsets: np.ndarray, hasher: ByteHasher | None = None
) -> np.ndarray:
    """64-bit hash of each whole normalised text; 0 for an empty one."""
    text_hashes = np.zeros(len(offsets) - 1, np.uint64)
    nonempty = offsets[1:] > offsets[:-1]
    hasher = hasher or ByteHasher(data)
    text_hashes[nonempty] = hasher.ranges(offsets[:-1][nonempty], offsets[1:][nonempty])
    return text_hashes


class MinHasher:
    """Signatures with the permutations of `datasketch.MinHash(num_perm, seed)`."""

    def __init__(self, num_perm: int, seed: int) -> None:
        self.a, self.b = affine32_permutations(num_perm, seed)
        self.num_perm = num_perm

    def signatures(self, shingled: Shingled, count: int) -> np.ndarray:
        """(count, num_perm) uint32: the MinHash of each document's shingles."""
        # permutations × shingles, so each document's minimum runs over contiguous memory
        signatures = np.full((self.num_perm, count), EMPTY, np.uint32)
        mixed = fmix(shingled.hashes)
        permuted = np.empty((self.num_perm, SHINGLES_PER_CHUNK), np.uint32)
        for start in range(0, len(mixed), SHINGLES_PER_CHUNK):
            chunk = mixed[start : start + SHINGLES_PER_CHUNK]
            out = permuted[:, : len(chunk)]
            np.multiply(self.a[:, None], chunk[None, :], out=out)
            out += self.b[:, None]
            docs = shingled.documents[start : start + SHINGLES_PER_CHUNK]
            firsts = np.flatnonzero(np.concatenate([[True], docs[1:] != docs[:-1]]))
            rows = docs[firsts]
            signatures[:, rows] = np.minimum(
                signatures[:, rows], np.minimum.reduceat(out, firsts, axis=1)
            )
        return np.ascontiguousarray(signatures.T)


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The permutations `h → a·h + b mod 2³²` of datasketch's `MinHash(num_perm, seed)`:
    drawn from numpy's `RandomState(seed)`, `a` odd, as datasketch 2's `_init_permutations`
    draws them for its affine32 scheme (tests/test_dedup.py checks the signatures against
    datasketch's). Drawn here, not read off a `MinHash`: importing datasketch imports scipy
    for its LSH, half a second of each worker's first dedup task."""
    draws = np.random.RandomState(seed)
    a = draws.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draws.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _words(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and document of every word; words are separated by exactly one space."""
    spaces = data == ord(" ")
    nonempty = offsets[1:] > offsets[:-1]
    boundary = np.zeros(len(data) + 1, bool)
    boundary[offsets[:-1][nonempty]] = True
    boundary[1:][spaces] = True
    starts = np.flatnonzero(boundary[:-1])
    boundary[:] = False
    boundary[offsets[1:][nonempty]] = True
    boundary[:-1][spaces] = True
    ends = np.flatnonzero(boundary)
    documents = np.searchsorted(offsets, starts, side="right") - 1
    return starts, ends, documents
