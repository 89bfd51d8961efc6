"""Words for the shingles of languages whose words spaces do not separate.

FineWeb-2 deduplicates each language with that language's word tokenizer
(`fineweb-2-pipeline.py`: "we need this to know which word tokenizer to use to split into
words and ngrams"). A Chinese, Japanese, Thai, Lao, Khmer or Burmese page has few spaces, so
its space-separated "words" are whole clauses or lines, and a near duplicate that differs by
a paragraph shares almost no shingle with its original. The normalised texts of those
languages get a space between each two words, the words the quality stage counts
(`filters/quality`: jieba, SudachiPy, PyThaiNLP, LaoNLP, khmer-nltk, pyidaungsu); every other
language's normalised text already is words between spaces (Korean's phrases and
Vietnamese's syllables find near duplicates as English words do).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.languages import words_language
from filters.quality.segmenters import WholeTextSplitter, word_splitter
from filters.quality.words import WordSplitter

LOG = logging.getLogger(__name__)
SPACE_FREE = frozenset({"zh", "ja", "th", "lo", "km", "my"})
"""Languages (as `words_language` names their word splitting) whose words spaces do not
separate."""


class Spacer:
    """Puts a space between each two words of the texts of space-free languages."""

    def __init__(self) -> None:
        self._splitters: dict[str, WordSplitter | WholeTextSplitter] = {}

    def spaced(self, normalised: pa.Array, languages: pa.Array | pa.ChunkedArray) -> pa.Array:
        """`normalised` (one text per document, words separated by single spaces) with the
        texts of `languages` whose words spaces do not separate re-spaced; itself when there
        are none."""
        labels = pc.fill_null(languages, "").to_numpy(zero_copy_only=False)
        for language in np.unique(labels).tolist():
            if words_language(language) not in SPACE_FREE:
                continue
            rows = np.flatnonzero(labels == language)
            try:
                words = self._words(language, normalised.take(pa.array(rows)))
            except Exception as error:  # a segmenter that breaks on some text stops no shard
                LOG.warning("dedup: %s words not split (%r); shingling its runs", language, error)
                continue
            mask = np.zeros(len(normalised), bool)
            mask[rows] = True
            normalised = pc.replace_with_mask(normalised, pa.array(mask), words)
        return normalised

    def _words(self, language: str, texts: pa.Array) -> pa.Array:
        """Each text's words, joined by single spaces."""
        if language not in self._splitters:
            self._splitters[language] = word_splitter(language)
        splitter = self._splitters[language]
        words = splitter.split(texts)
        tokens = words.vocabulary.tokens.cast(pa.large_string())
        lists = pa.LargeListArray.from_arrays(
            pa.array(words.offsets, pa.int64()), tokens.take(pa.array(words.ids))
        )
        splitter.forget()  # the words of one batch: memory does not grow with the shard
        return pc.binary_join(lists, pa.scalar(" ", pa.large_string()))
