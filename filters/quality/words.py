"""Word splitting as datatrove does it (spaCy's rule-based tokenizer), at a fraction of the cost.

spaCy's tokenizer first cuts the text at spaces and then splits each space-free chunk on its
own (prefixes, suffixes, infixes, exceptions such as `don't` → `do`, `n't`). So a chunk always
gives the same tokens, and web text repeats its chunks endlessly. `WordSplitter` cuts a whole
Arrow batch at spaces and newlines in C++ (spaCy makes a newline a token of its own, which
the stripping drops, so cutting there changes nothing), asks spaCy only about chunks it has
not met before, and assembles every document's tokens as integer ids with numpy. Tokens are whitespace-stripped
and empty ones dropped, as datatrove's `strip_strings` does.

`Vocabulary` gives each distinct token an id and the per-token facts the rules read (length,
has a letter, is only punctuation, ...), computed once per distinct token, not per occurrence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import chain, pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.affixes import guard_affix_searches
from filters.quality.text import PUNCTUATION_SET, SENTENCE_PUNCTUATION

MAX_CACHED_CHUNKS = 2_000_000
FACTS = ("length", "has_alpha", "has_non_symbol", "is_punct", "ends_sentence")
NON_SYMBOL = "[^" + "".join(f"\\x{{{ord(ch):x}}}" for ch in sorted(PUNCTUATION_SET)) + "]"
"""RE2: a character outside datatrove's punctuation set."""
TRAILING = frozenset(",;:!?.")


class Vocabulary:
    """Distinct tokens by id, with the per-token facts the rules need as numpy arrays."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.tokens: list[str] = []
        self._is_punct: list[bool] = []
        self._facts: dict[str, np.ndarray] = {name: np.zeros(0, bool) for name in FACTS}

    def ids_of(self, tokens: list[str], is_punct: Callable[[str], bool]) -> list[int]:
        """The ids of `tokens`, adding those not seen before (`is_punct`: spaCy's flag, asked
        of new tokens only). Bulk dict operations: no Python-level step per known token."""
        found = list(map(self.ids.get, tokens))
        if None in found:
            fresh = list(
                dict.fromkeys([t for t, f in zip(tokens, found, strict=True) if f is None])
            )
            start = len(self.tokens)
            self.ids.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            self.tokens += fresh
            self._is_punct += map(is_punct, fresh)
            found = list(map(self.ids.__getitem__, tokens))
        return found

    def fact(self, name: str) -> np.ndarray:
        """Indexed by token id: `length`, `has_alpha`, `has_non_symbol` (a character that is
        not punctuation: a word for Gopher), `is_punct` (spaCy's) or `ends_sentence`
        (a token after which spaCy's sentencizer may start a sentence)."""
        known = len(self._facts["length"])
        if known < len(self.tokens):
            new = pa.array(self.tokens[known:], pa.string())
            facts = {
                "length": pc.utf8_length(new),
                "has_alpha": pc.match_substring_regex(new, r"\pL"),
                "has_non_symbol": pc.match_substring_regex(new, NON_SYMBOL),
                "is_punct": pa.array(self._is_punct[known:], pa.bool_()),
                "ends_sentence": pc.is_in(new, value_set=pa.array(sorted(SENTENCE_PUNCTUATION))),
            }
            for key, values in facts.items():
                values = values.to_numpy(zero_copy_only=False)
                self._facts[key] = np.concatenate([self._facts[key], values])
        return self._facts[name]

    def lookup(self, tokens: list[str]) -> np.ndarray:
        """Ids of the given tokens; -1 for those never seen (so they match nothing)."""
        return np.array([self.ids.get(token, -1) for token in tokens], dtype=np.int64)


@dataclass
class Words:
    """Token ids of many texts, back to back: text i owns `ids[offsets[i]:offsets[i + 1]]`."""

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def owner(self) -> np.ndarray:
        """For each token, the index of its text."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts)

    def take(self, rows: np.ndarray) -> Words:
        """The words of texts `rows`, in that order."""
        counts = self.counts[rows]
        ids = _gather(self.ids, self.offsets[rows], counts)
        return Words(ids, np.concatenate([[0], np.cumsum(counts)]))

    def grouped(self, offsets: np.ndarray) -> Words:
        """Texts made of consecutive texts of these: new text i joins old texts
        `offsets[i]:offsets[i + 1]` (lines joined into documents, by whitespace)."""
        return Words(self.ids, self.offsets[offsets])


class WordSplitter:
    """spaCy's tokenizer for one language, memoised per space-separated chunk."""

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self.vocabulary = Vocabulary()
        self._chunks: dict[str, tuple[int, ...]] = {}

    @property
    def _spacy(self):
        return spacy_tokenizer(self.language)

    def split(self, texts: pa.Array | pa.ChunkedArray) -> Words:
        spaced = pc.replace_substring(pc.fill_null(texts, ""), "\n", " ")
        chunks = pc.split_pattern(spaced, " ")
        if isinstance(chunks, pa.ChunkedArray):
            chunks = chunks.combine_chunks()
        encoded = pc.dictionary_encode(chunks.flatten())
        distinct = encoded.dictionary.to_pylist()
        if len(self._chunks) > MAX_CACHED_CHUNKS:
            self._chunks.clear()
        known = list(map(self._chunks.get, distinct))
        if None in known:
            self._learn([c for c, k in zip(distinct, known, strict=True) if k is None])
            known = list(map(self._chunks.__getitem__, distinct))
        per_distinct = np.fromiter(map(len, known), np.int64, len(known))
        distinct_ids = np.fromiter(chain.from_iterable(known), np.int64)
        starts = np.concatenate([[0], np.cumsum(per_distinct)])
        which = encoded.indices.to_numpy(zero_copy_only=False)
        ids = _gather(distinct_ids, starts[which], per_distinct[which])
        token_ends = np.concatenate([[0], np.cumsum(per_distinct[which])])
        chunk_offsets = chunks.offsets.to_numpy() - chunks.offsets[0].as_py()
        return Words(ids, token_ends[chunk_offsets])

    def _learn(self, chunks: list[str]) -> None:
        """Put the token ids of each chunk in the cache."""
        special = self._spacy.rules
        # Letters only, or ASCII digits only: spaCy keeps such a chunk whole unless it is a
        # special case (`cannot`). Inline: this runs once per new chunk.
        words = [
            c for c in chunks if (c.isalpha() or (c.isascii() and c.isdigit())) and c not in special
        ]
        ids = self.vocabulary.ids_of(words, _never)
        self._chunks.update(zip(words, zip(ids), strict=True))
        rest = [c for c in chunks if c not in self._chunks]
        # A word of letters and one of `,;:!?.`, neither a special case (`etc.`): the mark
        # is always a suffix, but `.` only where spaCy's own suffix rule says so.
        marked = [
            c
            for c in rest
            if c[-1:] in TRAILING
            and c[:-1].isalpha()
            and c not in special
            and c[:-1] not in special
            and (c[-1] != "." or self._splits_period(c))
        ]
        bases = self.vocabulary.ids_of([c[:-1] for c in marked], _never)
        marks = self.vocabulary.ids_of([c[-1] for c in marked], _always)
        self._chunks.update(zip(marked, zip(bases, marks, strict=True), strict=True))
        self._learn_with_spacy([c for c in rest if c not in self._chunks])

    def _splits_period(self, chunk: str) -> bool:
        """Whether spaCy's suffix rule cuts the final `.` alone off `chunk` (after a
        lowercase letter or two capitals, ...)."""
        suffix = self._spacy.suffix_search(chunk)
        return suffix is not None and suffix.start() == len(chunk) - 1

    def _learn_with_spacy(self, chunks: list[str]) -> None:
        if not chunks:
            return
        from spacy.attrs import IDX, IS_PUNCT, ORTH

        doc = self._spacy(" ".join(chunks))
        orths = doc.to_array(ORTH)
        starts, puncts = doc.to_array([IDX, IS_PUNCT]).astype(np.int64).T
        lengths = np.fromiter(map(len, chunks), np.int64, len(chunks))
        chunk_starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
        owners = np.searchsorted(chunk_starts, starts, side="right") - 1
        strings = doc.vocab.strings
        distinct, first, which = np.unique(orths, return_index=True, return_inverse=True)
        texts = [strings[orth].strip() for orth in distinct.tolist()]
        punct = dict(zip(texts, puncts[first].astype(bool).tolist(), strict=True))
        ids = self.vocabulary.ids_of(texts, punct.__getitem__)
        ids = np.where([bool(text) for text in texts], ids, -1)[which]
        kept = ids >= 0  # whitespace tokens are dropped, as datatrove strips them
        ids, owners = ids[kept].tolist(), owners[kept]
        bounds = np.searchsorted(owners, np.arange(len(chunks) + 1)).tolist()
        self._chunks.update(
            zip(chunks, (tuple(ids[a:b]) for a, b in pairwise(bounds)), strict=True)
        )


def _never(_: str) -> bool:
    return False


def _always(_: str) -> bool:
    return True


def _gather(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate `values[s:s + c]` for each (s, c), without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return values[shift + np.arange(total)]


@cache
def spacy_tokenizer(language: str):
    """spaCy's blank pipeline tokenizer for `language` (English where spaCy has none)."""
    import spacy
    from spacy.attrs import IS_PUNCT

    try:
        nlp = spacy.blank(language)
    except Exception:  # no rules for this language, or they need an extra package
        nlp = spacy.blank("en")
    nlp.max_length = 10**9
    # Splitting never reads lexical attributes; computing them (shape, like_num, ...) for
    # every new word is most of spaCy's cost. Keep only the one the C4 rules read.
    getters = nlp.vocab.lex_attr_getters
    nlp.vocab.lex_attr_getters = {IS_PUNCT: getters[IS_PUNCT]} if IS_PUNCT in getters else {}
    guard_affix_searches(nlp.tokenizer)
    return nlp.tokenizer
