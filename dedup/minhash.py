"""MinHash signatures of word n-gram shingles for a whole batch of documents at once.

The semantics are datasketch's (`MinHash(num_perm, seed, hashfunc=shingle_hash)`, scheme
"affine32", permutations taken from datasketch itself): each shingle's 32-bit hash is
pre-mixed with the MurmurHash3 finaliser, permuted by `a·h + b mod 2³²`, and the signature
is the per-permutation minimum. Instead of one Python call per shingle, every shingle of the
batch is hashed from prefix sums over the normalised bytes and the permutations run as one
numpy array operation per chunk, so a signature equals datasketch's bit for bit.
A document shorter than `ngram` words is one shingle; one without words keeps datasketch's
empty signature (all 0xFFFFFFFF) and is left out of near-duplicate matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dedup.hashing import ByteHasher, hash32, hash_bytes, normalise, string_buffer

SHINGLES_PER_CHUNK = 16_384
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


def shingle_batch(texts: pa.Array | pa.ChunkedArray, ngram: int) -> Shingled:
    normalised = normalise(texts)
    data, offsets = string_buffer(normalised)
    hasher = ByteHasher(data)
    starts, ends, word_docs = _words(data, offsets)
    count = len(offsets) - 1
    words = np.bincount(word_docs, minlength=count)
    first_word = np.concatenate([[0], np.cumsum(words)[:-1]])
    # full n-grams: word i starts one when word i+n-1 is in the same document
    last = np.arange(len(starts)) + ngram - 1
    full = last < len(starts)
    full[full] = word_docs[last[full]] == word_docs[full.nonzero()[0]]
    # documents with fewer words than `ngram` are one shingle of all their words
    short = (words > 0) & (words < ngram)
    shingle_starts = np.concatenate([starts[full], starts[first_word[short]]])
    shingle_ends = np.concatenate([ends[last[full]], ends[first_word[short] + words[short] - 1]])
    shingle_docs = np.concatenate([word_docs[full], short.nonzero()[0]])
    order = np.argsort(shingle_docs, kind="stable")
    hashes = hash32(hasher.ranges(shingle_starts[order], shingle_ends[order]))
    text_hashes = np.zeros(count, np.uint64)
    nonempty = offsets[1:] > offsets[:-1]
    text_hashes[nonempty] = hasher.ranges(offsets[:-1][nonempty], offsets[1:][nonempty])
    return Shingled(hashes, shingle_docs[order], text_hashes, words)


class MinHasher:
    """Signatures with the permutations of `datasketch.MinHash(num_perm, seed)`."""

    def __init__(self, num_perm: int, seed: int) -> None:
        from datasketch import MinHash
        from datasketch.minhash import _fmix

        reference = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        self.a, self.b = (np.asarray(p, np.uint32) for p in reference.permutations)
        self.num_perm = num_perm
        self._premix = lambda values: _fmix(values, 32)

    def signatures(self, shingled: Shingled, count: int) -> np.ndarray:
        """(count, num_perm) uint32: the MinHash of each document's shingles."""
        signatures = np.full((count, self.num_perm), EMPTY, np.uint32)
        mixed = self._premix(shingled.hashes)[:, None]
        for start in range(0, len(mixed), SHINGLES_PER_CHUNK):
            stop = start + SHINGLES_PER_CHUNK
            permuted = mixed[start:stop] * self.a + self.b
            docs = shingled.documents[start:stop]
            firsts = np.flatnonzero(np.concatenate([[True], docs[1:] != docs[:-1]]))
            minima = np.minimum.reduceat(permuted, firsts, axis=0)
            rows = docs[firsts]
            signatures[rows] = np.minimum(signatures[rows], minima)
        return signatures


def _words(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and document of every word; words are separated by exactly one space."""
    spaces = np.flatnonzero(data == ord(" "))
    nonempty = offsets[1:] > offsets[:-1]
    starts = np.sort(np.concatenate([offsets[:-1][nonempty], spaces + 1]))
    ends = np.sort(np.concatenate([offsets[1:][nonempty], spaces]))
    documents = np.searchsorted(offsets, starts, side="right") - 1
    return starts, ends, documents
