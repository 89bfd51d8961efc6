"""Words of languages whose words spaces do not separate, counted as FineWeb-2 counted them.

FineWeb-2's thresholds and stop words for a language were derived on the words datatrove's
tokenizer for it gives, from whole texts. For most languages that is spaCy's rule-based
tokenizer, which `WordSplitter` (words.py) reproduces chunk by chunk. For these it cannot:
- Korean puts spaces between phrases, not words: its words are Kiwi's morphemes
  (skip-bigram model), FineWeb-2's Korean stop words are particles (는, 을, 에서), and a
  phrase's morphemes depend on its neighbours.
- Vietnamese puts spaces between syllables, and spaCy's Vietnamese tokenizer (pyvi) joins
  them into words (`thành phố`) that span a space.
- Khmer, Lao and Burmese put spaces between phrases or sentences; their segmenters
  (khmer-nltk, LaoNLP, pyidaungsu) read a whole run of text, as datatrove calls them.
So `WholeTextSplitter` hands each text whole to the language's segmenter. Tibetan is not
here: datatrove's segmenter for it (botok) downloads its dictionaries when first used, so
spaCy's Tibetan rules split it, which leave its phrases whole.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.languages import words_language
from filters.quality.words import Vocabulary, Words, WordSplitter, punctuation_rule, spacy_tokenizer

LONG_NUMBERS = re.compile("[0-9,]{20,}")


class WholeTextSplitter:
    """The words of each text, from the language's segmenter over the whole text."""

    learned = 0
    """It caches nothing (see `WordSplitter.learned`)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def forget(self) -> None:
        """Nothing to forget (see `WordSplitter.forget`)."""

    def load(self) -> None:
        """The segmenter's model (Kiwi's: seconds), which it loads on its first text."""
        SEGMENTERS[self.language]("")
        punctuation_rule(self.language)

    def split(self, texts: pa.Array | pa.ChunkedArray) -> Words:
        segment = SEGMENTERS[self.language]
        tokens, counts = [], []
        for text in pc.fill_null(texts, "").to_pylist():
            words = [token for token in map(str.strip, segment(text)) if token]
            tokens += words
            counts.append(len(words))
        vocabulary, ids = Vocabulary.encode(
            pa.array(tokens, pa.string()), punctuation_rule(self.language)
        )
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        return Words(ids, offsets, vocabulary)


def word_splitter(language: str) -> WordSplitter | WholeTextSplitter:
    """The splitter that gives `language`'s words as datatrove, and so FineWeb-2, counts them
    (Shan's are Burmese's segmenter's)."""
    if (splits_as := words_language(language)) in SEGMENTERS:
        return WholeTextSplitter(splits_as)
    return WordSplitter(language)


def korean_morphemes(text: str) -> list[str]:
    """Kiwi's morphemes of `text`. Runs of 20 or more digits and commas go first, as
    datatrove's preprocessing takes them out (the analyser stalls on them); the morphemes are
    cut from the text it analysed, where datatrove cuts their offsets from the original."""
    text = LONG_NUMBERS.sub("", text)
    return [text[token.start : token.end] for token in _kiwi().tokenize(text)]


def vietnamese_words(text: str) -> list[str]:
    tokenizer = spacy_tokenizer("vi")
    with tokenizer.vocab.memory_zone():  # spaCy keeps no string of this text past it
        return [token.text for token in tokenizer(text)]


def khmer_words(text: str) -> list[str]:
    return _khmer_tokenizer()(text, return_tokens=True)


def lao_words(text: str) -> list[str]:
    from laonlp.tokenize import word_tokenize

    return word_tokenize(text)


def burmese_words(text: str) -> list[str]:
    import pyidaungsu

    return pyidaungsu.tokenize(text, form="word")


SEGMENTERS: dict[str, Callable[[str], list[str]]] = {
    "ko": korean_morphemes,
    "vi": vietnamese_words,
    "km": khmer_words,
    "lo": lao_words,
    "my": burmese_words,
}


@cache
def _kiwi():
    from kiwipiepy import Kiwi

    with warnings.catch_warnings():  # that 0 means one thread since 0.21 (all cores before)
        warnings.filterwarnings("ignore", "behavior of `num_workers=0`", DeprecationWarning)
        return Kiwi(num_workers=0, model_type="sbg")  # one thread: a task has one CPU


@cache
def _khmer_tokenizer():
    from khmernltk import word_tokenize

    logging.getLogger("khmer-nltk").setLevel(logging.WARNING)  # "Loaded model from ..." at INFO
    return word_tokenize
