"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A1).

Removes documents that are too short or too long to be prose, whose words are implausibly
short or long on average, that are mostly `#` or ellipses, mostly bullet lines or lines cut
off with an ellipsis, mostly non-alphabetic words, or that lack the English stop words any
real sentence carries. Thresholds and order as datatrove's GopherQualityFilter.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from filters.quality.family import Family, FamilyParams, Judgement, above, as_numbers, below, ratio
from filters.quality.signals import Signals

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQuality(Family):
    """Word-count, word-length, symbol, bullet, ellipsis, alphabetic and stop-word rules."""

    name = "gopher_quality"

    class Params(FamilyParams):
        min_doc_words: int | None = 50
        """Fewest words (not counting symbols) a document may have."""
        max_doc_words: int | None = 100_000
        """Most words a document may have."""
        min_avg_word_length: float | None = 3
        """Shortest mean word length, in characters."""
        max_avg_word_length: float | None = 10
        """Longest mean word length, in characters."""
        max_symbol_word_ratio: float | None = 0.1
        """Most `#` and ellipsis symbols per word."""
        max_bullet_lines_ratio: float | None = 0.9
        """Most lines that may start with a bullet, as a share."""
        max_ellipsis_lines_ratio: float | None = 0.3
        """Most lines that may end with an ellipsis, as a share."""
        min_alpha_words_ratio: float | None = 0.8
        """Fewest words that must hold a letter, as a share."""
        min_stop_words: int | None = 2
        """Fewest words from `stop_words` a document must hold."""
        stop_words: list[str] = Field(default_factory=lambda: list(STOP_WORDS))
        """The words `min_stop_words` counts (Gopher's English ones by default)."""

        @model_validator(mode="after")
        def _stop_words_to_count(self) -> GopherQuality.Params:
            if self.min_stop_words and not self.stop_words:
                raise ValueError(
                    f"stop_words is empty, so min_stop_words {self.min_stop_words} would remove "
                    "every document; min_stop_words: null turns the rule off"
                )
            return self

    @cached_property
    def _stop_words(self) -> pa.Array:
        return pa.array(sorted(set(self.params.stop_words)), pa.string())

    def judge(self, signals: Signals) -> Judgement:
        p = self.params
        words = signals.words
        owner = signals.word_owner
        n_words = words.counts
        real = signals.word_fact("has_non_symbol")
        n_real = np.bincount(owner, real, len(signals))
        real_length = np.where(real, signals.word_fact("length"), 0)
        avg_length = ratio(np.bincount(owner, real_length, len(signals)), n_real)
        hashes = ratio(signals.count("#"), n_words)
        ellipses = ratio(signals.count("...") + signals.count("…"), n_words)
        lines = signals.lines
        stripped = pc.utf8_ltrim_whitespace(lines.values)
        bullets = pc.or_(pc.starts_with(stripped, "•"), pc.starts_with(stripped, "-"))
        ends = pc.utf8_rtrim_whitespace(lines.values)
        cut_off = pc.or_(pc.ends_with(ends, "..."), pc.ends_with(ends, "…"))
        bullet_ratio = ratio(lines.total(as_numbers(bullets)), lines.counts)
        ellipsis_ratio = ratio(lines.total(as_numbers(cut_off)), lines.counts)
        alpha = ratio(np.bincount(owner, signals.word_fact("has_alpha"), len(signals)), n_words)
        is_stop = words.vocabulary.among(self._stop_words)  # per token
        stop = np.flatnonzero(is_stop[words.ids])
        distinct = np.unique(owner[stop] * len(is_stop) + words.ids[stop])  # (text, stop word)
        n_stop = np.bincount(distinct // len(is_stop), minlength=len(signals))
        return self.first_failed(
            [
                ("min_doc_words", below(n_real, p.min_doc_words)),
                ("max_doc_words", above(n_real, p.max_doc_words)),
                ("min_avg_word_length", below(avg_length, p.min_avg_word_length)),
                ("max_avg_word_length", above(avg_length, p.max_avg_word_length)),
                ("max_symbol_word_ratio", above(hashes, p.max_symbol_word_ratio)),
                ("max_symbol_word_ratio", above(ellipses, p.max_symbol_word_ratio)),
                ("max_bullet_lines_ratio", above(bullet_ratio, p.max_bullet_lines_ratio)),
                ("max_ellipsis_lines_ratio", above(ellipsis_ratio, p.max_ellipsis_lines_ratio)),
                ("min_alpha_words_ratio", below(alpha, p.min_alpha_words_ratio)),
                ("min_stop_words", below(n_stop, p.min_stop_words)),
            ],
            len(signals),
        )
