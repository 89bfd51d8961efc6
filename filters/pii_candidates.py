"""Cheap pre-screens that find where presidio's recognizers could possibly fire.

Running presidio's recognizers over whole documents is slow (phonenumbers' matcher alone
parses every digit run, once per region), and most text holds no PII. Each entity has one
loose pattern, a superset of what its recognizer accepts: an e-mail needs an `@`, a phone
number seven digits close together, a card thirteen, an IPv4 address four dotted groups.
The patterns first run vectorised over the Arrow column (RE2, in C++) to find the
documents worth a look at all; in those, Python's `re` finds the matches, and each match
widens into a window of real context around it. presidio then analyses only the windows,
and only with the recognizers whose pattern matched there, so it makes every final
decision while a document without digits or `@` costs almost nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

CANDIDATE_PATTERNS = {
    "EMAIL_ADDRESS": r"@",
    "PHONE_NUMBER": "\\d(?:[\\s\u00a0().\\-/]{0,4}\\d){6}",
    "CREDIT_CARD": r"\d(?:[ \-]?\d){12}",
    "US_SSN": r"\d(?:[ \-.]?\d){8}",
    "IBAN_CODE": r"[A-Za-z]{2}\d{2}(?:\W?[A-Za-z0-9]){11}",
    "IP_ADDRESS": r"\d\.\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:|::",
    "CRYPTO": r"(?i:bc1|[13])[0-9A-Za-z]{25}|0x[0-9a-fA-F]{40}",
}
"""Per entity, a pattern every value its presidio recognizer accepts contains somewhere.
Written in the common subset of RE2 (pyarrow) and Python `re` syntax."""
COMPILED = {entity: re.compile(pattern) for entity, pattern in CANDIDATE_PATTERNS.items()}

SPACE = re.compile(r"\s")
LAST_SPACE = re.compile(r"(?s:.*)\s")

MARGIN = 48
"""Characters of context kept on each side of a candidate: more than the longest value
(an IBAN with spaces, ~42) so a value that only starts inside a match is whole in its window,
and enough words for presidio's context enhancement."""
DIGIT_MARGIN = 8
"""Phone, card and SSN candidates already span most of their value (7, 13 or 9 digits), and
phonenumbers' matcher (the dearest recognizer) parses every other digit group it sees, so
their windows stay short: 8 characters, then on to the next whitespace."""
MARGINS = {"PHONE_NUMBER": DIGIT_MARGIN, "CREDIT_CARD": DIGIT_MARGIN, "US_SSN": DIGIT_MARGIN}


@dataclass(frozen=True)
class Window:
    """A stretch of one document that presidio should analyse for `entities`."""

    row: int
    start: int
    end: int
    entities: frozenset[str]


def screen(texts: pa.ChunkedArray | pa.Array, entities: Sequence[str]) -> dict[str, pa.Array]:
    """Per entity, which documents contain a candidate at all (vectorised, null text → False)."""
    return {
        entity: pc.fill_null(pc.match_substring_regex(texts, CANDIDATE_PATTERNS[entity]), False)
        for entity in entities
        if entity in CANDIDATE_PATTERNS
    }


def windows(texts: pa.ChunkedArray | pa.Array, entities: Sequence[str]) -> list[Window]:
    """The merged windows of every document, each tagged with the entities to look for."""
    masks = screen(texts, entities)
    if not masks:
        return []
    any_candidate = functools.reduce(pc.or_, masks.values())
    rows = pc.indices_nonzero(any_candidate).to_pylist()
    flags = {entity: mask.to_pylist() for entity, mask in masks.items()}
    found: list[Window] = []
    for row in rows:
        text = texts[row].as_py()
        spans = [
            (match.start(), match.end(), entity)
            for entity in masks
            if flags[entity][row]
            for match in COMPILED[entity].finditer(text)
        ]
        found.extend(_merge(row, text, spans))
    return found


def _merge(row: int, text: str, spans: list[tuple[int, int, str]]) -> list[Window]:
    """Widen each candidate by its margin to word boundaries and merge overlapping windows."""
    merged: list[Window] = []
    for start, end, entity in sorted(spans):
        start, end = _widen(text, start, end, MARGINS.get(entity, MARGIN))
        if merged and start <= merged[-1].end:
            last = merged.pop()
            start, end = min(start, last.start), max(end, last.end)
            entity_set = last.entities | {entity}
        else:
            entity_set = frozenset((entity,))
        merged.append(Window(row, start, end, entity_set))
    return merged


def _widen(text: str, start: int, end: int, margin: int) -> tuple[int, int]:
    """`start`/`end` moved out by `margin`, then on to whitespace (at most `margin` further)."""
    start, end = max(0, start - margin), min(len(text), end + margin)
    floor, ceiling = max(0, start - margin), min(len(text), end + margin)
    before = LAST_SPACE.match(text, floor, start)
    after = SPACE.search(text, end, ceiling)
    return (before.end() if before else floor), (after.start() if after else ceiling)
