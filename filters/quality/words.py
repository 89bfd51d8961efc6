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

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import compress, filterfalse, repeat
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.affixes import guard_affix_searches
from filters.quality.languages import words_language
from filters.quality.text import PUNCTUATION_SET, sentence_punctuation
from filters.torch_hidden import torch_hidden

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
        of new tokens only). C-level passes only: find the new ones, number them, look up."""
        new = list(dict.fromkeys(filterfalse(self.ids.__contains__, tokens)))
        self.ids.update(zip(new, range(len(self.tokens), len(self.tokens) + len(new)), strict=True))
        self.tokens += new
        self._is_punct += map(is_punct, new)
        return list(map(self.ids.__getitem__, tokens))

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
                "ends_sentence": pc.is_in(new, value_set=pa.array(sorted(sentence_punctuation()))),
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
        self._max_bytes = SPACY_MAX_BYTES.get(words_language(language))
        self.forget()

    @property
    def learned(self) -> int:
        """Distinct chunks in the cache (a few hundred bytes each)."""
        return len(self._chunks)

    def forget(self) -> None:
        """Empty the chunk cache and the vocabulary (between batches only: the ids of words
        split before become meaningless). Each known chunk has a number, and chunk k's token
        ids are `_tokens[_first[k]:_first[k] + _count[k]]`."""
        self.vocabulary = Vocabulary()
        self._chunks: dict[str, int] = {}
        self._tokens, self._first, self._count = GrowingArray(), GrowingArray(), GrowingArray()

    def load(self) -> None:
        """spaCy's rules for the language, and what its tokenizer loads only when it first
        splits a text (PyThaiNLP's dictionary: a second)."""
        with self._spacy.vocab.memory_zone():
            self._spacy("a")

    @property
    def _spacy(self):
        return spacy_tokenizer(self.language)

    def split(self, texts: pa.Array | pa.ChunkedArray) -> Words:
        spaced = pc.replace_substring(pc.fill_null(texts, ""), "\n", " ")
        chunks = pc.split_pattern(spaced, " ")
        if isinstance(chunks, pa.ChunkedArray):
            chunks = chunks.combine_chunks()
        encoded = pc.dictionary_encode(chunks.flatten())
        numbers = self._numbers(encoded.dictionary)[encoded.indices.to_numpy(zero_copy_only=False)]
        counts = self._count.values[numbers]
        ids = _gather(self._tokens.values, self._first.values[numbers], counts)
        token_ends = np.concatenate([[0], np.cumsum(counts)])
        chunk_offsets = chunks.offsets.to_numpy() - chunks.offsets[0].as_py()
        return Words(ids, token_ends[chunk_offsets])

    def _numbers(self, distinct: pa.Array) -> np.ndarray:
        """The number of each of these distinct chunks, learning those not met before."""
        chunks = distinct.to_pylist()
        numbers = np.fromiter(map(self._chunks.get, chunks, repeat(-1)), np.int64, len(chunks))
        new = np.flatnonzero(numbers < 0)
        if len(new):
            numbers[new] = self._learn([chunks[i] for i in new.tolist()])
        return numbers

    def _learn(self, chunks: list[str]) -> np.ndarray:
        """Tokenise new chunks into the cache; their numbers, in order."""
        if not hasattr(self._spacy, "rules"):  # not rule-based (Chinese): no shortcuts
            return self._learn_with_spacy(chunks)
        special = self._spacy.rules
        numbers = np.empty(len(chunks), np.int64)
        # Letters only, or ASCII digits only: spaCy keeps such a chunk whole unless it is a
        # special case (`cannot`). Inline: this runs once per new chunk.
        is_word = np.array(
            [(c.isalpha() or (c.isascii() and c.isdigit())) and c not in special for c in chunks],
            bool,
        )
        words = list(compress(chunks, is_word))
        numbers[is_word] = self._store(
            words, self.vocabulary.ids_of(words, _never), np.ones(len(words), np.int64)
        )
        rest_at = np.flatnonzero(~is_word)
        rest = [chunks[i] for i in rest_at.tolist()]
        # A word of letters and one of `,;:!?.`, neither a special case (`etc.`): the mark
        # is always a suffix, but `.` only where spaCy's own suffix rule says so.
        is_marked = np.array(
            [
                c[-1:] in TRAILING
                and c[:-1].isalpha()
                and c not in special
                and c[:-1] not in special
                and (c[-1] != "." or self._splits_period(c))
                for c in rest
            ],
            bool,
        )
        marked = list(compress(rest, is_marked))
        parts = [part for c in marked for part in (c[:-1], c[-1])]
        numbers[rest_at[is_marked]] = self._store(
            marked, self.vocabulary.ids_of(parts, TRAILING.__contains__), np.full(len(marked), 2)
        )
        numbers[rest_at[~is_marked]] = self._learn_with_spacy(list(compress(rest, ~is_marked)))
        return numbers

    def _store(
        self, chunks: list[str], ids: list[int] | np.ndarray, counts: np.ndarray
    ) -> np.ndarray:
        """Cache these chunks, whose token ids are `ids`, `counts[i]` for chunk i; their
        numbers."""
        number = len(self._chunks)
        self._chunks.update(zip(chunks, range(number, number + len(chunks)), strict=True))
        self._first.extend(len(self._tokens.values) + np.cumsum(counts) - counts)
        self._count.extend(counts)
        self._tokens.extend(ids)
        return np.arange(number, number + len(chunks))

    def _splits_period(self, chunk: str) -> bool:
        """Whether spaCy's suffix rule cuts the final `.` alone off `chunk` (after a
        lowercase letter or two capitals, ...)."""
        suffix = self._spacy.suffix_search(chunk)
        return suffix is not None and suffix.start() == len(chunk) - 1

    def _learn_with_spacy(self, chunks: list[str]) -> np.ndarray:
        if not chunks:
            return np.zeros(0, np.int64)
        pieces, piece_owners = self._pieces(chunks)
        # What spaCy learns in a memory zone is freed after it: the strings and lexemes of
        # every new token would otherwise stay in its vocabulary for the process's life.
        with self._spacy.vocab.memory_zone():
            orths, at = self._tokens_of(pieces)
            strings = self._spacy.vocab.strings
            distinct, which = np.unique(orths, return_inverse=True)
            texts = [strings[orth].strip() for orth in distinct.tolist()]
        owners = piece_owners[at]
        ids = self.vocabulary.ids_of(texts, punctuation_rule(self.language))
        ids = np.where([bool(text) for text in texts], ids, -1)[which]
        kept = ids >= 0  # whitespace tokens are dropped, as datatrove strips them
        return self._store(chunks, ids[kept], np.bincount(owners[kept], minlength=len(chunks)))

    def _pieces(self, chunks: list[str]) -> tuple[list[str], np.ndarray]:
        """The chunks, those longer than the tokenizer takes cut; the chunk of each piece."""
        limit = self._max_bytes
        if limit is None or all(len(chunk) * 4 <= limit for chunk in chunks):
            return chunks, np.arange(len(chunks))
        cut = [_cut_to_bytes(chunk, limit) for chunk in chunks]
        owners = np.repeat(np.arange(len(chunks)), [len(parts) for parts in cut])
        return [part for parts in cut for part in parts], owners

    def _tokens_of(self, pieces: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """spaCy's tokens of these space-free pieces, in as few calls as the tokenizer takes:
        each token's orth (string id) and the index of its piece."""
        from spacy.attrs import IDX, ORTH

        orths, owners = [], []
        for start, stop in _calls(pieces, self._max_bytes):
            doc = self._spacy(" ".join(pieces[start:stop]))
            lengths = np.fromiter(map(len, pieces[start:stop]), np.int64, stop - start)
            piece_starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
            token_starts = doc.to_array(IDX).astype(np.int64)
            orths.append(doc.to_array(ORTH))
            owners.append(start + np.searchsorted(piece_starts, token_starts, side="right") - 1)
        return np.concatenate(orths), np.concatenate(owners)


class GrowingArray:
    """int64 values appended in bulk; room doubles as it fills, so appends are amortised."""

    def __init__(self) -> None:
        self._room = np.zeros(1024, np.int64)
        self._size = 0

    @property
    def values(self) -> np.ndarray:
        return self._room[: self._size]

    def extend(self, values) -> None:
        end = self._size + len(values)
        if end > len(self._room):
            room = np.zeros(max(end, 2 * len(self._room)), np.int64)
            room[: self._size] = self.values
            self._room = room
        self._room[self._size : end] = values
        self._size = end


def _never(_: str) -> bool:
    return False


def _cut_to_bytes(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, each as long as it can be (cut
    between characters, as datatrove cuts a Japanese text)."""
    encoded = text.encode()
    pieces = []
    while encoded:
        end = min(limit, len(encoded))
        while end < len(encoded) and encoded[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        pieces.append(encoded[:end].decode())
        encoded = encoded[end:]
    return pieces


def _calls(pieces: list[str], limit: int | None) -> list[tuple[int, int]]:
    """Runs of consecutive pieces whose text joined by spaces is at most `limit` bytes
    (each piece is), as (start, stop); one run when there is no limit."""
    if limit is None:
        return [(0, len(pieces))]
    calls, start, size = [], 0, -1
    for index, piece in enumerate(pieces):
        piece_size = len(piece.encode()) + 1  # with the space before it
        if size + piece_size > limit:
            calls.append((start, index))
            start, size = index, -1
        size += piece_size
    calls.append((start, len(pieces)))
    return calls


def _gather(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate `values[s:s + c]` for each (s, c), without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return values[shift + np.arange(total)]


SPACY_MAX_BYTES = {"ja": 40_000}
"""UTF-8 bytes per call for spaCy tokenizers that refuse longer texts: SudachiPy (Japanese)
takes at most 49,149. 40,000 is where datatrove cuts a Japanese text, so a text shorter
than that is split as FineWeb-2 split it; a longer one is cut per space-free chunk here and
per text there, so a word at such a cut may be split differently."""


SPACY_CONFIGS = {"zh": {"nlp": {"tokenizer": {"segmenter": "jieba"}}}}
"""spaCy configs for languages written without spaces whose default does not segment words:
spaCy's Chinese cuts every character apart unless told to use jieba (as datatrove does).
Japanese (SudachiPy) and Thai (PyThaiNLP) segment words by default."""


def spacy_tokenizer(language: str):
    """spaCy's blank pipeline tokenizer for `language`, or for the language datatrove splits
    it as (`words_language`), English where spaCy has neither. Languages split with the same
    rules share one tokenizer."""
    return _spacy_rules(words_language(language))[0]


def punctuation_rule(language: str) -> Callable[[str], bool]:
    """spaCy's `is_punct` for `language`'s tokens (the C4 rules' sentence counting reads it)."""
    return _spacy_rules(words_language(language))[1]


@cache
def _spacy_rules(rules: str) -> tuple[Any, Callable[[str], bool]]:
    """The tokenizer of spaCy's language `rules`, and its `is_punct`."""
    with torch_hidden():
        import spacy
        from spacy.attrs import IS_PUNCT

    if rules == "zh":  # jieba (its word segmenter) logs its loading to stderr: the job's log
        import jieba

        jieba.setLogLevel(logging.WARNING)
    try:
        with _without_plugin_components():
            nlp, special_cases = _blank_without_special_cases(spacy, rules)
    except Exception:  # no rules for this language, or they need an extra package
        if rules == "en":
            raise
        return _spacy_rules("en")  # one English tokenizer for all 36 such languages
    nlp.max_length = 10**9
    # Splitting never reads lexical attributes; computing them (shape, like_num, ...) for
    # every new word is most of spaCy's cost, and spaCy computes them again for every rare
    # word it meets. The one the C4 rules read is asked here, once per distinct token.
    getters = nlp.vocab.lex_attr_getters
    nlp.vocab.lex_attr_getters = {}
    if hasattr(nlp.tokenizer, "prefix_search"):  # rule-based, as for most languages
        guard_affix_searches(nlp.tokenizer, special_cases)
    return nlp.tokenizer, getters.get(IS_PUNCT, _never)


def _blank_without_special_cases(spacy, rules: str) -> tuple[Any, dict]:
    """`spacy.blank(rules)`, but with its rule-based tokenizer built without the language's
    special cases (`don't`, `anak-anak`), and those: `guard_affix_searches` loads them."""
    language = spacy.util.get_lang_class(rules)

    class Defaults(language.Defaults):
        tokenizer_exceptions: ClassVar[dict] = {}

    withheld = type(language.__name__, (language,), {"Defaults": Defaults})
    config = spacy.util.dot_to_dict(SPACY_CONFIGS.get(rules, {}))
    return withheld.from_config(config), language.Defaults.tokenizer_exceptions


@contextmanager
def _without_plugin_components():
    """spaCy imports every installed package's pipeline components (`spacy_factories` entry
    points) whenever it builds a pipeline, even a blank one. presidio's imports transformers:
    3 s of a quality stage's start-up, for a tokenizer that uses no component."""
    from spacy.util import registry

    factories = getattr(registry, "_entry_point_factories", None)
    if factories is None:  # a spaCy that no longer works this way
        yield
        return
    loads = factories.entry_points
    factories.entry_points = False
    try:
        yield
    finally:
        factories.entry_points = loads
