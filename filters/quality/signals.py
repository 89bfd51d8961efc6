"""What the quality rules measure, computed once per batch of texts and shared by every rule.

`Signals` holds a batch's texts and computes, on first use, each view the rules need: the
lines as `str.splitlines` gives them, the lines between newlines, paragraphs, the words
(datatrove's word split, see `words.py`) and n-gram hashes over them. Every view is flat
across the whole batch (`Pieces`: values back to back with per-text offsets), so rules are
numpy and Arrow kernels over the batch rather than Python over each document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.segmenters import WholeTextSplitter
from filters.quality.words import Words, WordSplitter

LINE_BREAKS = r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\x{2028}\x{2029}]"
"""What `str.splitlines` splits on."""
RARE_LINE_BREAKS = r"[\r\x0b\x0c\x1c\x1d\x1e\x85\x{2028}\x{2029}]"
"""The line breaks other than `\\n`."""

HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
OWNER_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
"""Mixes a text's number into its keys. Not `HASH_MULTIPLIER`: a unigram's hash is its id
times that, and (text a, word b) would then mix equal to (text b, word a)."""


def literal(text: str) -> str:
    """An RE2 pattern matching `text` as it is: RE2 searches a literal several times faster
    than Arrow's plain substring kernels (count_substring, match_substring)."""
    return re.escape(text)


@dataclass
class Pieces:
    """Strings cut out of each text, back to back: text i owns `values[offsets[i]:offsets[i+1]]`."""

    values: pa.Array
    offsets: np.ndarray

    @classmethod
    def split(cls, texts: pa.Array, pattern: str, regex: bool = True) -> Pieces:
        split = pc.split_pattern_regex if regex else pc.split_pattern
        lists = split(texts, pattern)
        return cls(lists.flatten(), lists.offsets.to_numpy() - lists.offsets[0].as_py())

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def owner(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts)

    @cached_property
    def lengths(self) -> np.ndarray:
        return pc.utf8_length(self.values).to_numpy(zero_copy_only=False).astype(np.int64)

    def total(self, per_piece: np.ndarray) -> np.ndarray:
        """Per text, the sum of `per_piece` over its pieces."""
        return np.bincount(self.owner, weights=per_piece, minlength=len(self.counts))

    def where(self, keep: np.ndarray) -> Pieces:
        counts = np.bincount(self.owner[keep], minlength=len(self.counts))
        return Pieces(self.values.filter(pa.array(keep)), np.concatenate([[0], np.cumsum(counts)]))

    def without_trailing_empty(self) -> Pieces:
        """Drop each text's last piece when empty: `re.split` → `str.splitlines` semantics."""
        keep = np.ones(len(self.values), bool)
        last = self.offsets[1:][self.counts > 0] - 1
        keep[last] = self.lengths[last] > 0
        return self.where(keep)

    @cached_property
    def repeated(self) -> np.ndarray:
        """True for a piece equal to an earlier piece of the same text. Only pieces whose
        length recurs in their text can be, and only those are hashed: most of a text's
        bytes lie in pieces of a length of their own."""
        owner = self.owner
        maybe = np.flatnonzero(_occurring_twice(_mixed(owner, self.lengths.astype(np.uint64))))
        codes = pc.dictionary_encode(self.values.take(pa.array(maybe))).indices
        keys = codes.to_numpy(zero_copy_only=False).astype(np.uint64)
        repeated = np.zeros(len(self.values), bool)
        repeated[maybe] = repeated_within(owner[maybe], keys)
        return repeated

    def joined(self, separator: str) -> pa.Array:
        lists = pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), self.values)
        return pc.binary_join(lists, separator)


def repeated_within(owner: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """True where `keys[i]` already occurred earlier with the same owner."""
    order, starts, _ = _equal_runs(_mixed(owner, keys))
    repeated = np.ones(len(keys), bool)
    if len(keys):
        repeated[np.minimum.reduceat(order, starts)] = False
    return repeated


def _mixed(owner: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """One uint64 per (owner, key) pair, so equal keys of different texts differ."""
    return keys ^ (owner.astype(np.uint64) * OWNER_MULTIPLIER)


def _equal_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`keys` sorted into runs of equal keys: the order that sorts them, and where each run
    starts in it and how long it is. numpy sorts 64-bit keys with SIMD instructions: with
    AVX-512 in 0.4 of the time Arrow's hash table takes to group them, with AVX2 in 0.85,
    with neither in twice the time (60,000 keys, a batch's bigrams)."""
    order = np.argsort(keys)
    ordered = keys[order]
    starts = np.flatnonzero(np.append(len(keys) > 0, ordered[1:] != ordered[:-1]))
    return order, starts, np.diff(np.append(starts, len(keys)))


def _occurring_twice(keys: np.ndarray) -> np.ndarray:
    """True where a key occurs at least twice: sorted, it stands next to an equal key."""
    order = np.argsort(keys)
    ordered = keys[order]
    equal_to_next = ordered[1:] == ordered[:-1]
    twice = np.zeros(len(keys), bool)
    twice[1:] = equal_to_next
    twice[:-1] |= equal_to_next
    found = np.empty(len(keys), bool)
    found[order] = twice
    return found


class Signals:
    """Shared measurements of a batch of texts; each computed once, on first use."""

    def __init__(
        self,
        texts: pa.Array,
        splitter: WordSplitter | WholeTextSplitter,
        urls: pa.Array | None = None,
        words: Words | None = None,
    ) -> None:
        """`words`: the texts' words when already known (an earlier family split them)."""
        self.texts = pc.fill_null(_contiguous(texts), "")
        self.splitter = splitter
        self.urls = _contiguous(urls if urls is not None else pa.nulls(len(texts), pa.string()))
        if words is not None:
            self.words = words

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def length(self) -> np.ndarray:
        """Characters per text."""
        return pc.utf8_length(self.texts).to_numpy(zero_copy_only=False).astype(np.int64)

    def count(self, substring: str) -> np.ndarray:
        """Non-overlapping occurrences of `substring` per text, as `str.count`."""
        counts = pc.count_substring_regex(self.texts, literal(substring))
        return counts.to_numpy(zero_copy_only=False)

    @cached_property
    def lines(self) -> Pieces:
        """`text.splitlines()`."""
        if pc.any(pc.match_substring_regex(self.texts, RARE_LINE_BREAKS)).as_py():
            return Pieces.split(self.texts, LINE_BREAKS).without_trailing_empty()
        # The same cut, without a regex (which costs more than this check).
        return self.newline_lines.without_trailing_empty()

    @cached_property
    def newline_lines(self) -> Pieces:
        """`text.split("\\n")`."""
        return Pieces.split(self.texts, "\n", regex=False)

    @cached_property
    def line_runs(self) -> Pieces:
        """`re.split("\\n+", text)`: lines, blank ones merged away. That is `text.split("\\n")`
        less the empty lines between two others, which costs a fifth of the regex split."""
        lines = self.newline_lines
        inner = np.ones(len(lines.values), bool)
        inner[lines.offsets[:-1]] = False  # a text's first line
        inner[lines.offsets[1:] - 1] = False  # and its last (every text has one)
        return lines.where(~inner | (lines.lengths > 0))

    @cached_property
    def paragraphs(self) -> Pieces:
        """`re.split("\\n{2,}", text.strip())`."""
        return Pieces.split(pc.utf8_trim_whitespace(self.texts), "\n{2,}")

    @cached_property
    def words(self) -> Words:
        return self.splitter.split(self.texts)

    def known_words(self) -> Words | None:
        """The words if some rule has split them already, else None."""
        return self.__dict__.get("words")

    @cached_property
    def word_owner(self) -> np.ndarray:
        return self.words.owner()

    def word_fact(self, name: str) -> np.ndarray:
        """A per-token fact (see `Vocabulary.fact`) for every word of the batch."""
        return self.words.fact(name)

    @cached_property
    def _word_length_sums(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.word_fact("length"))])

    def first_ngrams(self, n: int) -> NGrams:
        """Each text's first n-gram (texts of at least `n` words)."""
        return self._ngrams.first(n)

    def repeated_ngrams(self, n: int) -> NGrams:
        """The n-grams (runs of `n` words inside a text, hashed) that occur at least twice in
        their text, every copy, in text order."""
        return self._ngrams.repeated(n)

    @cached_property
    def _ngrams(self) -> _NGramTable:
        return _NGramTable(self.words, self.word_owner, self._word_length_sums)


class _NGramTable:
    """The repeated n-grams, level by level: an n-gram can occur twice in its text only
    where the two (n-1)-grams inside it both do, so past the bigrams only those candidates
    are hashed (each hash rolled on from its (n-1)-gram's) and grouped, a small share of
    the text. Bigrams are all grouped: most words repeat in their text, so pruning them by
    the repeated unigrams would cost a grouping of every word and save little.

    It holds the words, not their `Signals`: a reference back would make a cycle, which
    keeps a batch's arrays alive until Python's cycle collector runs, while the next batch
    takes fresh memory."""

    def __init__(self, words: Words, owner: np.ndarray, length_sums: np.ndarray) -> None:
        self.words = words
        self.owner = owner
        self.length_sums = length_sums  # characters of words 0..i-1, for each i
        self.unigram = (words.ids.astype(np.uint64) + np.uint64(1)) * HASH_MULTIPLIER
        self.next_in_text = np.append(owner[1:] == owner[:-1], False)  # per word
        self._repeated: dict[int, NGrams] = {}

    def repeated(self, n: int) -> NGrams:
        """Built level by level from the longest one known (a loop: `top_n_grams` may name
        an n of thousands); past a level with none, none repeat."""
        level = max((k for k in self._repeated if k <= n), default=0)
        while level < n:
            if level and len(self._repeated[level].start) == 0:
                return self._at(n, np.zeros(0, np.int64), np.zeros(0, np.uint64))
            level += 1
            self._repeated[level] = self._candidates(level).repeated()
        return self._repeated[n]

    def _candidates(self, n: int) -> NGrams:
        """The n-grams that may repeat: every unigram and bigram, and the longer ones made
        of two repeated (n-1)-grams."""
        if n == 1:
            return self._starting_at(1, np.arange(len(self.unigram)))
        if n == 2:
            return self._starting_at(2, np.flatnonzero(self.next_in_text))
        return self._joined(self._repeated[n - 1])

    def first(self, n: int) -> NGrams:
        words = self.words
        return self._starting_at(n, words.offsets[:-1][words.counts >= n])

    def _starting_at(self, n: int, starts: np.ndarray) -> NGrams:
        """The n-grams starting at these word positions (each with n words in its text)."""
        hashes = self.unigram[starts]
        for k in range(1, n if len(starts) else 1):
            hashes = _rolled(hashes, self.unigram[starts + k])
        return self._at(n, starts, hashes)

    def _joined(self, shorter: NGrams) -> NGrams:
        """The n-grams made of two overlapping (n-1)-grams of `shorter` in one text."""
        starts = shorter.start
        joins = np.flatnonzero((starts[1:] == starts[:-1] + 1) & self.next_in_text[starts[:-1]])
        starts = starts[joins]
        hashes = _rolled(shorter.hashes[joins], self.unigram[starts + shorter.n])
        return self._at(shorter.n + 1, starts, hashes)

    def _at(self, n: int, starts: np.ndarray, hashes: np.ndarray) -> NGrams:
        """The n-grams starting at these word positions (each inside its text)."""
        sums = self.length_sums
        return NGrams(
            n=n,
            owner=self.owner[starts],
            start=starts,
            hashes=hashes,
            chars=sums[starts + n] - sums[starts],
        )


def _rolled(hashes: np.ndarray, next_word: np.ndarray) -> np.ndarray:
    """The hashes of n-grams extended by one word, from those of the n-grams."""
    return hashes * np.uint64(1_000_003) + next_word


@dataclass
class NGrams:
    """The n-grams of a batch: text, first word index, hash and characters (words joined with
    no separator) of each."""

    n: int
    owner: np.ndarray
    start: np.ndarray
    hashes: np.ndarray
    chars: np.ndarray

    def repeated(self) -> NGrams:
        """Those occurring at least twice in their text, every copy."""
        kept = np.flatnonzero(_occurring_twice(_mixed(self.owner, self.hashes)))
        return NGrams(
            self.n, self.owner[kept], self.start[kept], self.hashes[kept], self.chars[kept]
        )

    @cached_property
    def groups(self) -> NGramGroups:
        """Equal n-grams of a text grouped, in order of first appearance."""
        order, starts, lengths = _equal_runs(_mixed(self.owner, self.hashes))
        if len(order) == 0:
            return NGramGroups(lengths, starts)
        first = np.minimum.reduceat(order, starts)
        appearance = np.argsort(first)
        return NGramGroups(lengths[appearance], first[appearance])


@dataclass
class NGramGroups:
    """Groups of equal n-grams of a text, in order of first appearance, so by text."""

    count: np.ndarray
    """Per group, how many n-grams it holds."""
    first: np.ndarray
    """Per group, the index of its first n-gram."""


def _contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
