"""Gopher repetition rules (Rae et al. 2021, table A1).

Removes documents that repeat themselves: too many duplicate lines or paragraphs (by count
or by characters), a single 2-, 3- or 4-gram covering too much of the text, or too many
characters inside repeated 5- to 10-grams. Such pages are menus, templates, spam and
degenerate machine output. Thresholds, order and counting as datatrove's
GopherRepetitionFilter (including its greedy skip over a repeated n-gram).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import numpy as np
from pydantic import Field, Strict, ValidationInfo, field_validator

from filters.quality.family import Family, FamilyParams, Judgement, above, exceeds, ratio
from filters.quality.signals import NGrams, Pieces, Signals

TOP_N_GRAMS = {2: 0.2, 3: 0.18, 4: 0.16}
DUP_N_GRAMS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

NGramSize = Annotated[int, Strict(False), Field(ge=1)]
"""Lax so that `--set ...top_n_grams.2=0.3` (a string key) still means n = 2."""


class GopherRepetition(Family):
    """Duplicate line/paragraph fractions and n-gram repetition rules."""

    name = "gopher_repetition"

    class Params(FamilyParams):
        dup_para_frac: float | None = 0.3
        """Most paragraphs (split on blank lines) that may repeat an earlier one, as a share."""
        dup_para_char_frac: float | None = 0.2
        """Most characters that may lie in repeated paragraphs, as a share."""
        dup_line_frac: float | None = 0.3
        """Most lines that may repeat an earlier one, as a share."""
        dup_line_char_frac: float | None = 0.2
        """Most characters that may lie in repeated lines, as a share."""
        top_n_grams: dict[NGramSize, float] = Field(default_factory=lambda: dict(TOP_N_GRAMS))
        """n → most the single most frequent n-gram may cover, as a fraction of characters."""
        dup_n_grams: dict[NGramSize, float] = Field(default_factory=lambda: dict(DUP_N_GRAMS))
        """n → most the repeated n-grams may cover, as a fraction of characters."""

        @field_validator("top_n_grams", "dup_n_grams", mode="before")
        @classmethod
        def _merge_with_published(cls, sizes: object, info: ValidationInfo) -> object:
            """Sizes not named keep their published threshold; `null` turns one size off."""
            if not isinstance(sizes, dict):
                return sizes
            published = TOP_N_GRAMS if info.field_name == "top_n_grams" else DUP_N_GRAMS
            merged: dict = dict(published)
            for size, share in sizes.items():
                size = int(size) if isinstance(size, str) and size.isdigit() else size
                if share is None:
                    merged.pop(size, None)
                else:
                    merged[size] = share
            return merged

    def judge(self, signals: Signals) -> Judgement:
        p = self.params
        length = signals.length
        paragraphs, lines = signals.paragraphs, signals.line_runs
        failures = [
            ("empty", length == 0),
            ("dup_para_frac", above(_repeated_share(paragraphs), p.dup_para_frac)),
            (
                "dup_para_char_frac",
                above(_repeated_chars(paragraphs, length), p.dup_para_char_frac),
            ),
            ("dup_line_frac", above(_repeated_share(lines), p.dup_line_frac)),
            ("dup_line_char_frac", above(_repeated_chars(lines, length), p.dup_line_char_frac)),
        ]
        for n, limit in sorted(p.top_n_grams.items()):
            top = _top_ngram_chars(
                signals.repeated_ngrams(n), signals.first_ngrams(n), len(signals)
            )
            covered = ratio(top, length)
            failures.append((f"top_n_grams.{n}", exceeds(covered, limit)))
        for n, limit in sorted(p.dup_n_grams.items()):
            covered = ratio(_repeated_ngram_chars(signals.repeated_ngrams(n), len(signals)), length)
            failures.append((f"dup_n_grams.{n}", exceeds(covered, limit)))
        return self.first_failed(failures, len(signals))


def _repeated_share(pieces: Pieces) -> np.ndarray:
    return ratio(pieces.total(pieces.repeated.astype(np.float64)), pieces.counts)


def _repeated_chars(pieces: Pieces, length: np.ndarray) -> np.ndarray:
    return ratio(pieces.total(np.where(pieces.repeated, pieces.lengths, 0)), length)


def _top_ngram_chars(grams: NGrams, firsts: NGrams, size: int) -> np.ndarray:
    """Per text: characters of its most frequent n-gram (words joined by spaces) times its
    count; among equally frequent ones the first seen, as `Counter.most_common(1)` picks.
    `grams`: the repeated n-grams; a text with none has its first n-gram (`firsts`) once."""
    chars = np.zeros(size)
    chars[firsts.owner] = firsts.chars + firsts.n - 1
    if len(grams.hashes) == 0:
        return chars
    count, first = grams.groups.count, grams.groups.first
    owner = grams.owner[first]  # ascending: groups come in order of first appearance
    text_starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    most = np.maximum.reduceat(count, text_starts)
    tops = np.flatnonzero(count == np.repeat(most, np.diff(np.append(text_starts, len(count)))))
    leader = tops[np.concatenate([[True], owner[tops][1:] != owner[tops][:-1]])]
    words_with_spaces = grams.chars[first[leader]] + grams.n - 1
    chars[grams.owner[first[leader]]] = words_with_spaces * count[leader]
    return chars


def _repeated_ngram_chars(grams: NGrams, size: int) -> np.ndarray:
    """Per text: characters in repeated n-grams, walking as datatrove's `find_all_duplicate`
    does (a repeat skips its n words). Only n-grams occurring twice in a text can repeat, so
    `grams` holds just those and the walk visits only them."""
    chars = np.zeros(size)
    if len(grams.start) == 0:
        return chars
    bounds = [0, *(np.flatnonzero(np.diff(grams.owner)) + 1).tolist(), len(grams.start)]
    starts, keys, widths = grams.start.tolist(), grams.hashes.tolist(), grams.chars.tolist()
    for low, high in pairwise(bounds):
        seen: set[int] = set()
        resume = -1
        total = 0
        for start, key, width in zip(
            starts[low:high], keys[low:high], widths[low:high], strict=True
        ):
            if start < resume:
                continue
            if key in seen:
                total += width
                resume = start + grams.n
            else:
                seen.add(key)
        chars[grams.owner[low]] = total
    return chars
