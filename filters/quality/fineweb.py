"""FineWeb rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3).

Removes documents where few lines end in terminal punctuation (navigation, listings), most
lines are short (menus, tag clouds), many characters sit in duplicated lines (templates),
or there are many newlines per word (lists). Thresholds and order as datatrove's
FineWebQualityFilter.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from filters.quality.family import (
    Crossed,
    Family,
    FamilyParams,
    Judgement,
    exceeds,
    ratio,
    short_of,
)
from filters.quality.signals import Signals, literal
from filters.quality.text import TERMINAL_PUNCTUATION


class FineWeb(Family):
    """Line-punctuation, short-line, duplicate-line-character and list rules."""

    name = "fineweb"

    class Params(FamilyParams):
        line_punct_thr: float = 0.12
        """Fewest non-empty lines that must end in punctuation, as a share."""
        line_punct_exclude_zero: bool = False
        """Keep documents where no line ends in punctuation (lists, poems) instead of removing them."""
        stop_chars: list[str] | None = None
        """What a line may end with to count as punctuated; default: terminal punctuation of any
        script."""
        short_line_thr: float = 0.67
        """Most lines that may be short (≤ `short_line_length` characters), as a share."""
        short_line_length: int = 30
        """Characters up to which a line counts as short."""
        char_duplicates_ratio: float = 0.01
        """Most characters that may lie in repeated lines, as a share."""
        new_line_ratio: float = 0.3
        """Most newlines per word."""

        @field_validator("stop_chars")
        @classmethod
        def _ending_something(cls, stop_chars: list[str] | None) -> list[str] | None:
            if stop_chars is not None and not (stop_chars and all(stop_chars)):
                raise ValueError(
                    "empty, or holding an empty string (which ends every line); null takes "
                    "terminal punctuation of any script"
                )
            return stop_chars

    def judge(self, signals: Signals) -> Judgement:
        p = self.params
        all_lines = signals.newline_lines
        lines = all_lines.where(
            pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(all_lines.values)), 0).to_numpy(
                zero_copy_only=False
            )
        )
        stop_chars = p.stop_chars if p.stop_chars is not None else sorted(TERMINAL_PUNCTUATION)
        punct = ratio(lines.total(_ends_with_any(lines.values, stop_chars)), lines.counts)
        short = ratio(lines.total(lines.lengths <= p.short_line_length), lines.counts)
        newlines = signals.count("\n")
        duplicated = ratio(
            lines.total(np.where(lines.repeated, lines.lengths, 0)), signals.length - newlines
        )
        return self.first_failed(
            [
                ("empty", lines.counts == 0),
                ("line_punct_thr", _punctuated_short_of(punct, p)),
                ("short_line_thr", exceeds(short, p.short_line_thr)),
                ("char_duplicates_ratio", exceeds(duplicated, p.char_duplicates_ratio)),
                (
                    "new_line_ratio",
                    exceeds(ratio(newlines, signals.words.counts), p.new_line_ratio),
                ),
            ],
            len(signals),
        )


def _punctuated_short_of(punct: np.ndarray, p: FineWeb.Params) -> Crossed:
    """Too few punctuated lines, except none at all with `line_punct_exclude_zero`."""
    crossed = short_of(punct, p.line_punct_thr)
    exempt = (punct == 0) & p.line_punct_exclude_zero
    return Crossed(crossed.failed & ~exempt, crossed.measured, "<", p.line_punct_thr)


def _ends_with_any(lines: pa.Array, endings: list[str]) -> np.ndarray:
    """`line.endswith(tuple(endings))` for each line."""
    if not endings:
        return np.zeros(len(lines), bool)
    pattern = "(?:" + "|".join(map(literal, endings)) + ")$"
    return pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
