"""Text normalisation and the 64-bit polynomial hash of any byte range, for whole batches.

Texts are normalised (lower case, punctuation and symbols removed, whitespace runs made one
space) with Arrow kernels, and the bytes of a whole batch are hashed at once: with prefix
sums over `(byte + 1) · P⁻ʲ` (mod 2⁶⁴), the hash of any range — a word n-gram, a whole
document — is two lookups and a multiply. `hash_bytes` computes the same value for one
string, which is how datasketch sees our shingles (its `hashfunc`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK64 = (1 << 64) - 1
BASE = 0x9E3779B97F4A7C15 | 1  # odd, so it has an inverse mod 2^64
BASE_INVERSE = pow(BASE, -1, 1 << 64)


def normalise(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Lower case, punctuation and symbols removed, words separated by single spaces."""
    texts = pc.utf8_lower(pc.fill_null(texts, ""))
    texts = pc.replace_substring_regex(texts, r"[\p{P}\p{S}]+", "")
    # splitting and joining beats a whitespace regex: most characters it matches are spaces
    texts = pc.utf8_trim(pc.binary_join(pc.utf8_split_whitespace(texts), " "), " ")
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return texts.cast(pa.large_string())


FMIX = {
    32: (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16),
    64: (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33),
}
"""MurmurHash3's finaliser per width in bits: shift, multiplier, shift, multiplier, shift."""


def fmix(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser over uint32 or uint64 values: spreads every input bit over
    the output."""
    scalar = values.dtype.type
    shift1, times1, shift2, times2, shift3 = map(scalar, FMIX[values.dtype.itemsize * 8])
    values = values ^ (values >> shift1)
    values = values * times1
    values = values ^ (values >> shift2)
    values = values * times2
    return values ^ (values >> shift3)


class ByteHasher:
    """Polynomial hashes of byte ranges of one buffer (e.g. a normalised Arrow string array)."""

    def __init__(self, data: np.ndarray) -> None:
        size = len(data)
        self.powers = _powers(BASE, size)
        weights = (data.astype(np.uint64) + np.uint64(1)) * _powers(BASE_INVERSE, size)[:size]
        self.prefix = np.zeros(size + 1, np.uint64)
        np.cumsum(weights, dtype=np.uint64, out=self.prefix[1:])

    def ranges(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Σ (byte+1)·P^(end-1-j) over [start, end) for each range, as uint64 (ends > starts)."""
        return self.powers[ends - 1] * (self.prefix[ends] - self.prefix[starts])


def hash_bytes(data: bytes) -> int:
    """The polynomial hash of one byte string; equals `ByteHasher.ranges` over the same bytes."""
    value = 0
    for byte in data:
        value = (value * BASE + byte + 1) & MASK64
    return value


def hash32(values: np.ndarray) -> np.ndarray:
    """64-bit range hashes → well-mixed 32-bit values (datasketch's affine32 input width)."""
    return (fmix(values) >> np.uint64(32)).astype(np.uint32)


def string_buffer(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and int64 offsets (rebased to 0) of a large_string array."""
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data_buffer = texts.buffers()[2]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    )
    data = data[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


_POWERS: dict[int, np.ndarray] = {}


def _powers(base: int, size: int) -> np.ndarray:
    """base^0 .. base^size mod 2^64 (at least), computed once per process and grown by doubling."""
    if len(_POWERS.get(base, ())) <= size:
        powers = np.full(max(2 * size, 1 << 16) + 1, base, np.uint64)
        powers[0] = 1
        _POWERS[base] = np.cumprod(powers, dtype=np.uint64)
    return _POWERS[base]
