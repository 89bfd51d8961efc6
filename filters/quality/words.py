"""Word splitting as datatrove does it (spaCy's rule-based tokenizer), at a fraction of the cost.

spaCy's tokenizer first cuts the text at spaces and then splits each space-free chunk on its
own (prefixes, suffixes, infixes, exceptions such as `don't` → `do`, `n't`). So a chunk always
gives the same tokens, and web text repeats its chunks endlessly. `WordSplitter` cuts a whole
Arrow batch at spaces and newlines in C++ (spaCy makes a newline a token of its own, which
the stripping drops, so cutting there changes nothing) and finds its distinct chunks. A chunk
of letters only (or ASCII digits only) that is no special case and that no affix rule of the
language can cut (`affix_reach`: Indonesian's prefix `USD` cuts `USDA`) is its own token,
which Arrow tells in bulk; spaCy is asked only about the other chunks, once each: they are
cached. Every document's tokens are then assembled as integer ids with numpy. Tokens are
whitespace-stripped and empty ones dropped, as datatrove's `strip_strings` does.

`Vocabulary` numbers the distinct tokens of one split and gives the per-token facts the rules
read (length, has a letter, is only punctuation, ...), computed in bulk over the distinct
tokens, not per occurrence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise, repeat
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.affixes import (
    ASCII_DIGITS,
    LETTERS,
    Reach,
    affix_reach,
    guard_affix_searches,
)
from filters.quality.compiled_regexes import kept_compiled
from filters.quality.languages import words_language
from filters.quality.text import PUNCTUATION_SET, sentence_punctuation
from filters.torch_hidden import torch_hidden

NON_SYMBOL = "[^" + "".join(f"\\x{{{ord(ch):x}}}" for ch in sorted(PUNCTUATION_SET)) + "]"
"""RE2: a character outside datatrove's punctuation set."""
TRAILING = tuple(",;:!?.")
"""The marks `_marked` cuts off a word."""
ALL_PUNCTUATION = r"^\p{P}+$"
"""RE2: a token made only of punctuation (Unicode category P*)."""


class Vocabulary:
    """The distinct tokens of one split, numbered, with the per-token facts the rules need as
    numpy arrays indexed by token id."""

    def __init__(
        self, tokens: pa.Array, is_punct: Callable[[str], bool], plain: np.ndarray | None = None
    ) -> None:
        self.tokens = tokens
        self._is_punct = is_punct
        self._plain = np.zeros(0, bool) if plain is None else plain
        self._facts: dict[str, np.ndarray] = {}

    @classmethod
    def encode(
        cls, tokens: pa.Array, is_punct: Callable[[str], bool], plain: np.ndarray | None = None
    ) -> tuple[Vocabulary, np.ndarray]:
        """The vocabulary of `tokens` (`is_punct`: spaCy's flag for the language), and the
        id of each of them. `plain`: the first `len(plain)` tokens are distinct plain words,
        of letters only (True) or of ASCII digits only (False), whose facts need no search."""
        encoded = pc.dictionary_encode(tokens)
        ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(encoded.dictionary, is_punct, plain), ids

    def fact(self, name: str) -> np.ndarray:
        """Indexed by token id: `length`, `has_alpha`, `has_non_symbol` (a character that is
        not punctuation: a word for Gopher), `is_punct` (spaCy's) or `ends_sentence`
        (a token after which spaCy's sentencizer may start a sentence)."""
        if name not in self._facts:
            self._facts[name] = self._computed(name)
        return self._facts[name]

    def _computed(self, name: str) -> np.ndarray:
        if name == "length":
            return pc.utf8_length(self.tokens).to_numpy(zero_copy_only=False)
        # A plain word holds a letter where it is made of letters; it is a word for Gopher,
        # and neither punctuation nor a sentence's end.
        plain = (
            self._plain
            if name == "has_alpha"
            else np.full(len(self._plain), name == "has_non_symbol")
        )
        return np.concatenate([plain, self._searched(name, self.tokens[len(plain) :])])

    def _searched(self, name: str, tokens: pa.Array) -> np.ndarray:
        if name == "is_punct":
            # spaCy's flag is "every character's category is P*": Arrow's `\p{P}` holds
            # every character Python's tables put there, so it finds the few candidates.
            candidates = np.flatnonzero(
                pc.match_substring_regex(tokens, ALL_PUNCTUATION).to_numpy(zero_copy_only=False)
            )
            values = np.zeros(len(tokens), bool)
            values[candidates] = list(map(self._is_punct, tokens.take(candidates).to_pylist()))
            return values
        computed = {
            "has_alpha": lambda: pc.match_substring_regex(tokens, r"\pL"),
            "has_non_symbol": lambda: pc.match_substring_regex(tokens, NON_SYMBOL),
            "ends_sentence": lambda: pc.is_in(
                tokens, value_set=pa.array(sorted(sentence_punctuation()))
            ),
        }[name]()
        return computed.to_numpy(zero_copy_only=False)

    def among(self, strings: pa.Array) -> np.ndarray:
        """Indexed by token id: whether the token is one of `strings`."""
        return pc.is_in(self.tokens, value_set=strings).to_numpy(zero_copy_only=False)


@dataclass
class Words:
    """Token ids of many texts, back to back: text i owns `ids[offsets[i]:offsets[i + 1]]`;
    the ids are `vocabulary`'s."""

    ids: np.ndarray
    offsets: np.ndarray
    vocabulary: Vocabulary = field(repr=False)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def owner(self) -> np.ndarray:
        """For each token, the index of its text."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts)

    def fact(self, name: str) -> np.ndarray:
        """A per-token fact (`Vocabulary.fact`) for every token."""
        return self.vocabulary.fact(name)[self.ids]

    def strings(self) -> list[list[str]]:
        """Each text's tokens as strings."""
        tokens = self.vocabulary.tokens.take(pa.array(self.ids)).to_pylist()
        return [tokens[start:end] for start, end in pairwise(self.offsets.tolist())]

    def take(self, rows: np.ndarray) -> Words:
        """The words of texts `rows`, in that order."""
        counts = self.counts[rows]
        ids = _gather(self.ids, self.offsets[rows], counts)
        return Words(ids, np.concatenate([[0], np.cumsum(counts)]), self.vocabulary)

    def grouped(self, offsets: np.ndarray) -> Words:
        """Texts made of consecutive texts of these: new text i joins old texts
        `offsets[i]:offsets[i + 1]` (lines joined into documents, by whitespace)."""
        return Words(self.ids, self.offsets[offsets], self.vocabulary)


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
        """Empty the chunk cache (between batches only). Each known chunk has a number, and
        chunk k's tokens are `_tokens[_first[k]:_first[k] + _count[k]]`."""
        self._chunks: dict[str, int] = {}
        self._tokens = GrowingStrings()
        self._first, self._count = GrowingArray(), GrowingArray()

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
        tokens, first, count, plain = self._chunk_tokens(encoded.dictionary.cast(pa.string()))
        vocabulary, token_ids = Vocabulary.encode(tokens, punctuation_rule(self.language), plain)
        at = encoded.indices.to_numpy(zero_copy_only=False)
        counts = count[at]
        ids = _gather(token_ids, first[at], counts)
        token_ends = np.concatenate([[0], np.cumsum(counts)])
        chunk_offsets = chunks.offsets.to_numpy() - chunks.offsets[0].as_py()
        return Words(ids, token_ends[chunk_offsets], vocabulary)

    def _chunk_tokens(
        self, distinct: pa.Array
    ) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
        """The tokens of these distinct chunks, back to back, where each chunk's tokens begin
        and how many it has, and which of the chunks that are their own token (they come
        first, then the others' tokens, from the cache) are letters (the others are digits)."""
        whole, letters = self._own_tokens(distinct)
        cached_at = np.flatnonzero(~whole)
        numbers = self._numbers(distinct.take(pa.array(cached_at)))
        cached_count = self._count.values[numbers]
        cached = self._tokens.take(_spans(self._first.values[numbers], cached_count))
        own = distinct.filter(pa.array(whole))
        first = np.zeros(len(distinct), np.int64)
        count = np.ones(len(distinct), np.int64)
        first[whole] = np.arange(len(own))
        first[cached_at] = len(own) + np.cumsum(cached_count) - cached_count
        count[cached_at] = cached_count
        return pa.concat_arrays([own, cached]), first, count, letters[whole]

    def _own_tokens(self, chunks: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Which chunks spaCy keeps whole, for a rule-based tokenizer: letters only, or ASCII
        digits only, that no affix rule can cut and no special case (`cannot`); and which
        chunks are letters only."""
        rules = spacy_rules(self.language)
        if rules.letters is None or rules.digits is None:  # not rule-based: no shortcuts
            return np.zeros(len(chunks), bool), np.zeros(len(chunks), bool)
        is_letters = pc.utf8_is_alpha(chunks)
        letters = pc.and_(is_letters, _kept_by(chunks, rules.letters))
        digits = pc.and_(
            pc.match_substring_regex(chunks, "^[0-9]+$"), _kept_by(chunks, rules.digits)
        )
        special = pc.is_in(chunks, value_set=rules.special_cases)
        whole = pc.and_not(pc.or_(letters, digits), special)
        return whole.to_numpy(zero_copy_only=False), is_letters.to_numpy(zero_copy_only=False)

    def _numbers(self, chunks: pa.Array) -> np.ndarray:
        """The number of each of these distinct chunks, learning those not met before."""
        listed = chunks.to_pylist()
        numbers = np.fromiter(map(self._chunks.get, listed, repeat(-1)), np.int64, len(listed))
        new = np.flatnonzero(numbers < 0)
        if len(new):
            numbers[new] = self._learn(chunks.take(pa.array(new)))
        return numbers

    def _learn(self, chunks: pa.Array) -> np.ndarray:
        """Tokenise new chunks into the cache; their numbers, in order."""
        if spacy_rules(self.language).letters is None:
            return self._learn_with_spacy(chunks.to_pylist())
        numbers = np.empty(len(chunks), np.int64)
        marked = self._marked(chunks)
        words = chunks.take(pa.array(marked))
        stems, marks = pc.utf8_slice_codeunits(words, 0, -1), pc.utf8_slice_codeunits(words, -1)
        interleaved = np.arange(2 * len(words)).reshape(2, -1).T.ravel()  # stem 0, mark 0, ...
        tokens = pa.concat_arrays([stems, marks]).take(pa.array(interleaved))
        numbers[marked] = self._store(words.to_pylist(), tokens, 2)
        others = np.setdiff1d(np.arange(len(chunks)), marked, assume_unique=True)
        numbers[others] = self._learn_with_spacy(chunks.take(pa.array(others)).to_pylist())
        return numbers

    def _marked(self, chunks: pa.Array) -> np.ndarray:
        """Indices of the chunks that are a word of letters the affix rules keep whole and
        one of `,;:!?.`, neither a special case (`etc.`) nor kept whole by the language's
        token rule (Turkish's `II.`): the mark is always a suffix, but `.` only where spaCy's
        own suffix rule says so. Arrow finds the candidates; Python asks the rules spaCy
        keeps as functions about those only."""
        rules = spacy_rules(self.language)
        stems, marks = pc.utf8_slice_codeunits(chunks, 0, -1), pc.utf8_slice_codeunits(chunks, -1)
        word = pc.and_(pc.utf8_is_alpha(stems), _kept_by(stems, rules.letters))
        special = pc.or_(
            pc.is_in(chunks, value_set=rules.special_cases),
            pc.is_in(stems, value_set=rules.special_cases),
        )
        trailing = pc.is_in(marks, value_set=pa.array(TRAILING))
        candidate = pc.and_not(pc.and_(trailing, word), special)
        at = np.flatnonzero(candidate.to_numpy(zero_copy_only=False))
        kept_whole = self._spacy.token_match or _never
        listed = chunks.take(pa.array(at)).to_pylist()
        return at[
            np.fromiter(
                (not kept_whole(c) and (c[-1] != "." or self._splits_period(c)) for c in listed),
                bool,
                len(listed),
            )
        ]

    def _store(self, chunks: list[str], tokens: pa.Array, counts: np.ndarray | int) -> np.ndarray:
        """Cache these chunks, whose tokens are `tokens`, `counts[i]` for chunk i; their
        numbers."""
        counts = np.broadcast_to(np.asarray(counts, np.int64), (len(chunks),))
        number = len(self._chunks)
        self._chunks.update(zip(chunks, range(number, number + len(chunks)), strict=True))
        self._first.extend(self._tokens.size + np.cumsum(counts) - counts)
        self._count.extend(counts)
        self._tokens.extend(tokens)
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
        kept = np.array([bool(text) for text in texts], bool)[which]
        # whitespace tokens are dropped, as datatrove strips them
        tokens = pa.array(texts, pa.string()).take(pa.array(which[kept]))
        owners = piece_owners[at][kept]
        return self._store(chunks, tokens, np.bincount(owners, minlength=len(chunks)))

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


class GrowingStrings:
    """Strings appended in bulk and taken by position. They live in a few arrays, each at
    least twice as long as the next (an appended part merges with the newest ones while it is
    as long as they are), so a string is copied a few times in all, not once per append as
    into one ever-growing array, and a take reads a handful of arrays."""

    def __init__(self) -> None:
        self._arrays: list[pa.Array] = []
        self._starts = np.zeros(1, np.int64)  # each array's first position, then the size

    @property
    def size(self) -> int:
        return int(self._starts[-1])

    def extend(self, values: pa.Array) -> None:
        arrays = [*self._arrays, values]
        while len(arrays) > 1 and len(arrays[-2]) <= len(arrays[-1]):
            arrays[-2:] = [pa.concat_arrays(arrays[-2:])]
        self._arrays = arrays
        self._starts = np.concatenate([[0], np.cumsum([len(array) for array in arrays])])

    def take(self, positions: np.ndarray) -> pa.Array:
        held_in = np.searchsorted(self._starts, positions, side="right") - 1
        order = np.argsort(held_in, kind="stable")
        bounds = np.searchsorted(held_in[order], np.arange(len(self._arrays) + 1))
        parts = [
            array.take(pa.array(positions[order[low:high]] - start))
            for array, start, low, high in zip(
                self._arrays, self._starts, bounds[:-1], bounds[1:], strict=False
            )
        ]
        taken = pa.concat_arrays([pa.array([], pa.string()), *parts])
        return taken.take(pa.array(np.argsort(order)))


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
    return values[_spans(starts, counts)]


def _spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions `s, s + 1, ..., s + c - 1` for each (s, c), back to back."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return shift + np.arange(total)


def _kept_by(chunks: pa.Array, reach: Reach) -> pa.BooleanArray | pa.BooleanScalar:
    """Which chunks (each of the kind `reach` is about) no affix rule can cut."""
    if reach.first is None or reach.last is None or reach.anywhere is None:
        return pa.scalar(False)
    cut = pa.scalar(False)
    if reach.first:
        first = pc.utf8_slice_codeunits(chunks, 0, 1)
        cut = pc.or_(cut, pc.is_in(first, value_set=pa.array(sorted(reach.first))))
    if reach.last:
        last = pc.utf8_slice_codeunits(chunks, -1)
        cut = pc.or_(cut, pc.is_in(last, value_set=pa.array(sorted(reach.last))))
    if reach.anywhere:
        held = "[" + "".join(f"\\x{{{ord(char):x}}}" for char in sorted(reach.anywhere)) + "]"
        cut = pc.or_(cut, pc.match_substring_regex(chunks, held))
    return pc.invert(cut)


SPACY_MAX_BYTES = {"ja": 40_000}
"""UTF-8 bytes per call for spaCy tokenizers that refuse longer texts: SudachiPy (Japanese)
takes at most 49,149. 40,000 is where datatrove cuts a Japanese text, so a text shorter
than that is split as FineWeb-2 split it; a longer one is cut per space-free chunk here and
per text there, so a word at such a cut may be split differently."""


SPACY_CONFIGS = {"zh": {"nlp": {"tokenizer": {"segmenter": "jieba"}}}}
"""spaCy configs for languages written without spaces whose default does not segment words:
spaCy's Chinese cuts every character apart unless told to use jieba (as datatrove does).
Japanese (SudachiPy) and Thai (PyThaiNLP) segment words by default."""


@dataclass(frozen=True)
class SpacyRules:
    """A language's spaCy tokenizer, and what the splitter reads of its rules."""

    tokenizer: Any
    is_punct: Callable[[str], bool]
    """spaCy's `is_punct` for the language's tokens (the C4 rules' sentence counting)."""
    special_cases: pa.Array
    """The chunks a rule-based tokenizer splits by exception (`cannot`, `don't`)."""
    letters: Reach | None
    """Where its affix rules can cut a word of letters; None: not rule-based."""
    digits: Reach | None
    """The same for a number of ASCII digits."""


def spacy_rules(language: str) -> SpacyRules:
    """spaCy's blank pipeline tokenizer for `language`, or for the language datatrove splits
    it as (`words_language`), English where spaCy has neither, with what the splitter reads
    of its rules. Languages split with the same rules share one."""
    return _spacy_rules(words_language(language))


def spacy_tokenizer(language: str):
    """`spacy_rules(language).tokenizer`."""
    return spacy_rules(language).tokenizer


def punctuation_rule(language: str) -> Callable[[str], bool]:
    """`spacy_rules(language).is_punct`."""
    return spacy_rules(language).is_punct


@cache
def _spacy_rules(rules: str) -> SpacyRules:
    """The tokenizer of spaCy's language `rules`, and what the splitter reads of it."""
    with torch_hidden():
        import spacy
        from spacy.attrs import IS_PUNCT

    if rules == "zh":  # jieba (its word segmenter) logs its loading to stderr: the job's log
        import jieba

        jieba.setLogLevel(logging.WARNING)
    try:
        with _without_plugin_components(), kept_compiled():
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
    is_punct = getters.get(IS_PUNCT, _never)
    tokenizer = nlp.tokenizer
    if not hasattr(tokenizer, "prefix_search"):  # not rule-based (Chinese's jieba)
        return SpacyRules(tokenizer, is_punct, pa.array([], pa.string()), None, None)
    letters, digits = affix_reach(tokenizer, LETTERS), affix_reach(tokenizer, ASCII_DIGITS)
    guard_affix_searches(tokenizer, special_cases)
    specials = pa.array(sorted(special_cases), pa.string())
    return SpacyRules(tokenizer, is_punct, specials, letters, digits)


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
