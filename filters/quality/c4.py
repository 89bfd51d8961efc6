"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2).

Line by line, removes lines that do not end in terminal punctuation (or end in an ellipsis),
lines with fewer than 3 words, lines holding a word over 1000 characters, lines mentioning
javascript (script warnings) and cookie/terms/privacy-policy boilerplate; Wikipedia-style
citation marks are cut from the lines kept. Then removes whole documents containing
"lorem ipsum" (templates) or a curly bracket (code), and those left with fewer than 5
sentences. Thresholds, order and sentence counting (spaCy's sentencizer on each kept line)
as datatrove's C4QualityFilter; the kept lines become the document's text.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality.family import Family, FamilyParams, Judgement, short_of
from filters.quality.signals import Pieces, Signals, literal
from filters.quality.text import WHITESPACE
from filters.quality.words import Words

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
LINE_RULES = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


class C4(Family):
    """Line-level cleaning, then lorem-ipsum, curly-bracket and sentence-count rules."""

    name = "c4"

    class Params(FamilyParams):
        remove_citations: bool = True
        """Strip Wikipedia-style citation marks (`[1]`, `[citation needed]`) from the text."""
        filter_no_terminal_punct: bool = True
        """Drop lines that do not end in terminal punctuation."""
        min_num_sentences: int | None = 5
        """Fewest sentences a document may keep after the line rules."""
        min_words_per_line: Annotated[int, Field(le=1001)] | None = 3
        """At most 1001: counted with a regex, whose repeats RE2 caps at 1000."""
        max_word_length: Annotated[int, Field(ge=0)] | None = 1000
        """Drop lines holding a word longer than this many characters (null: keep them)."""
        filter_lorem_ipsum: bool = True
        """Remove documents holding `lorem ipsum`."""
        filter_javascript: bool = True
        """Drop lines that mention javascript (`enable javascript` notices)."""
        filter_curly_bracket: bool = True
        """Remove documents holding a `{` (code, templates)."""
        filter_policy: bool = True
        """Drop lines of cookie, privacy and terms-of-use notices."""

    def judge(self, signals: Signals) -> Judgement:
        p = self.params
        lines = signals.lines
        stripped = pc.utf8_trim_whitespace(lines.values)
        cleaned = (
            pc.replace_substring_regex(stripped, CITATION, "") if p.remove_citations else stripped
        )
        lower = pc.utf8_lower(cleaned)
        none = np.zeros(len(stripped), bool)
        line_fails = {
            "too_long_word": _has_long_word(stripped, p.max_word_length),
            "no_terminal_punct": _no_terminal_punct(cleaned)
            if p.filter_no_terminal_punct
            else none,
            "too_few_words": ~_has_words(stripped, p.min_words_per_line),
        }
        reaches_content = ~np.logical_or.reduce(list(line_fails.values()))
        lorem = _contains(lower, "lorem ipsum") if p.filter_lorem_ipsum else none
        javascript = _contains(lower, "javascript") if p.filter_javascript else none
        curly = _contains(cleaned, "{") if p.filter_curly_bracket else none
        policy = _contains_any(lower, POLICY) if p.filter_policy else none
        line_fails["javascript"] = reaches_content & ~lorem & javascript
        line_fails["policy"] = reaches_content & ~lorem & ~javascript & ~curly & policy
        # A line that reaches lorem ipsum or a curly bracket ends the document there.
        doc_event = reaches_content & (lorem | (~javascript & curly))
        first_event = _first_per_text(lines, doc_event)
        kept = reaches_content & ~lorem & ~javascript & ~curly & ~policy
        kept_lines = Pieces(cleaned, lines.offsets).where(kept)
        line_words = signals.splitter.split(kept_lines.values)
        sentences = self._sentences(kept_lines, line_words)
        event_is_lorem = np.zeros(len(signals), bool)
        has_event = first_event >= 0
        event_is_lorem[has_event] = lorem[first_event[has_event]]
        judgement = self.first_failed(
            [
                ("lorem_ipsum", has_event & event_is_lorem),
                ("curly_bracket", has_event & ~event_is_lorem),
                (
                    "min_num_sentences",
                    short_of(sentences, p.min_num_sentences) if p.min_num_sentences else None,
                ),
            ],
            len(signals),
        )
        texts = pc.utf8_trim_whitespace(kept_lines.joined("\n"))
        # Lines are counted for documents C4 keeps: those are the lines that really go.
        stays = judgement.reasons == None  # noqa: E711 (elementwise over an object array)
        counters = {
            f"lines_removed.c4_{rule}": int(np.sum(fails & stays[lines.owner]))
            for rule, fails in _exclusive(line_fails).items()
        }
        # Words never cross a line, so a text's words are those of its kept lines.
        words = line_words.grouped(kept_lines.offsets)
        return Judgement(
            judgement.reasons, judgement.details, texts=texts, words=words, counters=counters
        )

    def _sentences(self, kept: Pieces, words: Words) -> np.ndarray:
        """Sentences per text over its kept lines (`words`: per line), as spaCy's sentencizer
        splits each line: a sentence starts at a non-punctuation token that follows a
        sentence-ending one."""
        ends = words.fact("ends_sentence")
        punct = words.fact("is_punct")
        line = words.owner()
        marks = ends | ~punct
        line, ends = line[marks], ends[marks]
        follows_an_end = ~ends[1:] & ends[:-1] & (line[1:] == line[:-1])
        starts = np.concatenate([np.zeros(min(len(line), 1), bool), follows_an_end])
        per_line = (words.counts > 0) + np.bincount(line[starts], minlength=len(kept.values))
        return kept.total(per_line.astype(np.float64))


def _exclusive(fails: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each line charged to the first rule that removes it, as datatrove counts them."""
    taken = np.zeros_like(next(iter(fails.values())))
    exclusive = {}
    for rule, failed in fails.items():
        exclusive[rule] = failed & ~taken
        taken = taken | failed
    return exclusive


def _first_per_text(pieces: Pieces, flags: np.ndarray) -> np.ndarray:
    """Per text, the index of its first flagged piece, or -1."""
    first = np.full(len(pieces.counts), -1)
    hits = np.flatnonzero(flags)[::-1]
    first[pieces.owner[hits]] = hits
    return first


def _has_words(lines: pa.Array, count: int | None) -> np.ndarray:
    """Whether each line has at least `count` words, as `len(line.split()) >= count` (a
    match, not a split: only whether the count is reached matters)."""
    if not count or count <= 0:
        return np.ones(len(lines), bool)
    space = "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in WHITESPACE) + "]"
    word = space.replace("[", "[^", 1)
    return _numpy(
        pc.match_substring_regex(lines, f"^{space}*(?:{word}+{space}+){{{count - 1}}}{word}")
    )


def _has_long_word(lines: pa.Array, limit: int | None) -> np.ndarray:
    found = np.zeros(len(lines), bool)
    if limit is None:
        return found
    long_lines = pc.greater(pc.utf8_length(lines), limit).to_numpy(zero_copy_only=False)
    for index in np.flatnonzero(long_lines):
        found[index] = any(len(word) > limit for word in lines[index].as_py().split())
    return found


def _no_terminal_punct(lines: pa.Array) -> np.ndarray:
    ends = pc.match_substring_regex(lines, r"[.?!\"']$")
    return ~(ends.to_numpy(zero_copy_only=False)) | _numpy(pc.ends_with(lines, "..."))


def _contains(lines: pa.Array, needle: str) -> np.ndarray:
    return _numpy(pc.match_substring_regex(lines, literal(needle)))


def _contains_any(lines: pa.Array, needles: tuple[str, ...]) -> np.ndarray:
    pattern = "|".join(needle.replace(" ", r"\ ") for needle in needles)
    return _numpy(pc.match_substring_regex(lines, pattern))


def _numpy(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False)
