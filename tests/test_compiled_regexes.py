"""Large regexes kept compiled on disk (`filters/quality/compiled_regexes.py`): read back, they
match as `re` compiles them, and a damaged or unwritable cache only costs a compile."""

from __future__ import annotations

import re
from re import _parser

import pytest

from filters.quality.compiled_regexes import LARGE, kept_compiled

WORDS = [f"w{i}rd" for i in range(2_000)]
PATTERN = r"^(?P<word>" + "|".join(WORDS) + r")(?:-(\d+))?$"
SAMPLES = ["w7rd", "W1999RD-42", "w2000rd", "x", "w12rd-", "w3rd-7", ""]


def compiled(pattern: str, flags: int) -> re.Pattern:
    re.purge()  # `re` keeps what it compiled in the process
    return re.compile(pattern, flags)


def matches(pattern: re.Pattern, strings: list[str]) -> list:
    return [
        (m.span(), m.groups(), m.groupdict()) if m else None for m in map(pattern.match, strings)
    ]


def test_a_large_regex_is_compiled_once_then_read_back(tmp_path, monkeypatch):
    assert len(PATTERN) >= LARGE
    expected = compiled(PATTERN, re.IGNORECASE)
    with kept_compiled(tmp_path):
        written = compiled(PATTERN, re.IGNORECASE)
    assert len(list(tmp_path.glob("*.bin"))) == 1
    parses = []
    monkeypatch.setattr(_parser, "parse", lambda *args: parses.append(args) or None)
    with kept_compiled(tmp_path):
        read = compiled(PATTERN, re.IGNORECASE)
    assert parses == []  # read, not compiled
    for pattern in (written, read):
        assert (pattern.pattern, pattern.flags, pattern.groups) == (
            expected.pattern,
            expected.flags,
            expected.groups,
        )
        assert dict(pattern.groupindex) == dict(expected.groupindex)
        assert matches(pattern, SAMPLES) == matches(expected, SAMPLES)


def test_a_damaged_or_unwritable_cache_only_costs_a_compile(tmp_path):
    expected = matches(compiled(PATTERN, 0), SAMPLES)
    with kept_compiled(tmp_path):
        compiled(PATTERN, 0)
    (kept,) = tmp_path.glob("*.bin")
    whole = kept.read_bytes()
    kept.write_bytes(whole[:-40])
    with kept_compiled(tmp_path):
        assert matches(compiled(PATTERN, 0), SAMPLES) == expected
    assert len(kept.read_bytes()) > 40 and list(tmp_path.glob("*.part")) == []  # written again
    assert kept.read_bytes() == whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with kept_compiled(blocked / "regex"):
        assert matches(compiled(PATTERN, 0), SAMPLES) == expected


@pytest.mark.slow
def test_french_token_exceptions_read_back_match_as_compiled(tmp_path):
    """French's 1.4 MB regex (case-insensitive), through the cache and compiled by `re`, on
    the words it exists for and on words it must leave alone."""
    from spacy.lang.fr.tokenizer_exceptions import TOKEN_MATCH

    pattern, flags = TOKEN_MATCH.__self__.pattern, TOKEN_MATCH.__self__.flags
    words = [
        "aujourd'hui",
        "Saint-Étienne",
        "porte-monnaie",
        "PEUT-ÊTRE",
        "grand'mère",
        "entr'abat",
        "saut-de-ski",
        "hip-hop",
        "New-York",
        "Dupuis-Martin",
        "l'État",
        "maison",
        "c'est-à-dire",
        "",
    ]
    expected = matches(compiled(pattern, flags), words)
    for _ in range(2):  # written, then read back
        with kept_compiled(tmp_path):
            assert matches(compiled(pattern, flags), words) == expected
