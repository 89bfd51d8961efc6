"""Which phone regions' matchers could accept anything in a window.

presidio's PhoneRecognizer runs phonenumbers' PhoneNumberMatcher once per region over its
text, and each run parses every candidate the matcher's pattern finds and then, when the
whole candidate is no valid number, the inner groups its patterns split off (at slashes,
brackets, dashes, dots, spaces). Web text is full of dates and figures: most of those
parses cannot succeed, and each costs a full `parse`.

A number the matcher accepts for region R is international (a plus sign, or R's
international dialling prefix, then any country's number), or it is valid under R's calling
code, its digits being an optional prefix (the calling code, then up to two national
prefixes: `parse` strips one while extracting the calling code and one after) and the
national significant number; written with no prefix at all, it must also carry the national
prefix where its format requires one (the matcher's own check). The screen runs the
matcher's own candidate and inner-group patterns, and where none of those texts, with no
prefix combination, makes a number that passes these checks, R's matcher would reject
everything and R is skipped. presidio's PhoneRecognizer still decides on every region that
remains. phonenumbers' private names used here are pinned by `tests/test_pii.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, normalize_digits_only
from phonenumbers.phonenumber import CountryCodeSource
from phonenumbers.phonenumbermatcher import _INNER_MATCHES as MATCHER_INNER_GROUPS
from phonenumbers.phonenumbermatcher import _PATTERN as MATCHER_CANDIDATE
from phonenumbers.phonenumbermatcher import (
    _is_national_prefix_present_if_required as national_prefix_present_if_required,
)
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

PLAIN_CANDIDATE = re.compile(f"(?:(?![x~～])[{_VALID_PUNCTUATION}\\d])+")
"""Digits and separators only. Anything else in a candidate (a plus sign, an extension's
`x`/`#`/`~`/`ext`, letters of a vanity number) changes how digits are read, so such a
candidate keeps every region."""
DIGIT_GROUP = re.compile(r"\d+")
NOT_DIGIT = re.compile(r"[^0-9]")
MAX_GROUPS = MAX_GROUP_DIGITS = 20
"""The matcher's pattern takes at most 21 groups of at most 20 digits; beyond that, where
a candidate starts decides where it ends, so longer ones keep every region."""
NATIONAL_PREFIX_STRIPS = 2
CANDIDATES_CACHED = 1 << 16
"""Distinct candidates whose regions are remembered: years, dates and boilerplate numbers
recur across a crawl."""


@dataclass(frozen=True)
class RegionDigits:
    """How phonenumbers reads the digits of a number parsed with `region` as default."""

    region: str
    calling_code: int
    international_prefix: re.Pattern | None
    national_prefixes: tuple[re.Pattern, ...]
    lengths: frozenset[int] | None
    """National significant number lengths valid under the calling code; None: any."""
    general: tuple[re.Pattern, ...]
    """The calling code's regions' general patterns: a valid number matches one (and it
    costs far less to try than `is_valid_number`, which first finds the region)."""
    fewest_digits: int
    """No valid number, national or after an international prefix, has fewer digits."""

    @property
    def code(self) -> str:
        return str(self.calling_code)

    def may_accept(self, digits: str) -> bool:
        """Whether some parse of `digits` with this default region could be valid."""
        if self.lengths is None:
            return True
        if len(digits) < self.fewest_digits:
            return False
        prefix = self.international_prefix and self.international_prefix.match(digits)
        if prefix and len(digits) - prefix.end() >= shortest_international():
            return True
        return any(
            len(digits) - start in self.lengths
            and any(general.fullmatch(digits, start) for general in self.general)
            and self._valid(digits, start)
            for start in self._number_starts(digits)
        )

    def _number_starts(self, digits: str) -> set[int]:
        """Where the national significant number may start: after no prefix, the calling
        code, or national prefixes."""
        starts = {0, len(self.code)} if digits.startswith(self.code) else {0}
        for _ in range(NATIONAL_PREFIX_STRIPS):
            starts |= {
                start + match.end()
                for start in starts
                for prefix in self.national_prefixes
                if (match := prefix.match(digits[start:]))
            }
        return starts

    def _valid(self, digits: str, start: int) -> bool:
        """Whether the number whose national significant number starts at `start` passes
        the matcher's checks: valid, and with no prefix at all (the number as written
        nationally), the national prefix present where the number's format requires it."""
        national = digits[start:]
        zeros = min(len(national) - len(national.lstrip("0")), len(national) - 1)
        number = PhoneNumber(
            country_code=self.calling_code,
            national_number=int(national),
            italian_leading_zero=zeros > 0 or None,
            number_of_leading_zeros=zeros if zeros > 1 else None,
            raw_input=digits,
            country_code_source=CountryCodeSource.FROM_DEFAULT_COUNTRY,
        )
        return phonenumbers.is_valid_number(number) and (
            start > 0 or national_prefix_present_if_required(number)
        )


@cache
def shortest_international() -> int:
    """Digits of the shortest valid number after an international prefix (calling code and
    national number), over every region phonenumbers knows."""
    return min(
        len(str(code))
        + min(
            PhoneMetadata.metadata_for_region_or_calling_code(
                code, region
            ).general_desc.possible_length,
            default=1,
        )
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        for region in regions
    )


@cache
def region_digits(region: str) -> RegionDigits:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        raise ValueError(f"pii.phone_regions: unknown region {region!r}")
    code = metadata.country_code
    main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(code))
    parsers = [metadata, main]  # the calling code's main region strips prefixes after it
    shared = [
        PhoneMetadata.metadata_for_region(other)
        for other in phonenumbers.region_codes_for_country_code(code)
    ]
    lengths = {length for other in shared for length in other.general_desc.possible_length}
    unbounded = any(
        not (other.general_desc.possible_length and other.general_desc.national_number_pattern)
        for other in shared
    ) or any(m.national_prefix_transform_rule for m in parsers)
    return RegionDigits(
        region=region,
        calling_code=code,
        international_prefix=re.compile(metadata.international_prefix)
        if metadata.international_prefix
        else None,
        national_prefixes=tuple(
            re.compile(m.national_prefix_for_parsing)
            for m in parsers
            if m.national_prefix_for_parsing
        ),
        lengths=None if unbounded else frozenset(lengths),
        general=tuple(re.compile(other.general_desc.national_number_pattern) for other in shared),
        fewest_digits=min(min(lengths, default=0), 1 + shortest_international()),
    )


def load(regions: Sequence[str]) -> tuple[str, ...]:
    """`regions`, each checked against phonenumbers' metadata, which is read now rather
    than while the first batch is timed. phonenumbers then keeps every metadata pattern it
    compiles: the screen and the matcher use more than the `re` module's cache holds."""
    phonenumbers.enable_pattern_cache()
    for region in regions:
        region_digits(region)
    return tuple(regions)


def possible_regions(text: str, regions: tuple[str, ...]) -> frozenset[str]:
    """The regions whose PhoneNumberMatcher could find a number in `text`."""
    possible: frozenset[str] = frozenset()
    for candidate in MATCHER_CANDIDATE.finditer(text):
        possible |= candidate_regions(candidate.group(), regions)
        if len(possible) == len(regions):
            break
    return possible


@lru_cache(maxsize=CANDIDATES_CACHED)
def candidate_regions(candidate: str, regions: tuple[str, ...]) -> frozenset[str]:
    """The regions for which some run of `candidate`'s digit groups could be a number."""
    runs = _digit_runs(candidate)
    return frozenset(
        region
        for region in regions
        if runs is None or any(region_may_accept(region, run) for run in runs)
    )


@lru_cache(maxsize=CANDIDATES_CACHED)
def region_may_accept(region: str, digits: str) -> bool:
    """`RegionDigits.may_accept`, remembered: the same groups recur in many candidates."""
    return region_digits(region).may_accept(digits)


def _digit_runs(candidate: str) -> set[str] | None:
    """The digits of every text the matcher parses for `candidate`, or None where digits
    are not all there is to count."""
    groups = DIGIT_GROUP.findall(candidate)
    if (
        not PLAIN_CANDIDATE.fullmatch(candidate)
        or len(groups) > MAX_GROUPS
        or any(len(group) > MAX_GROUP_DIGITS for group in groups)
    ):
        return None
    ascii_digits = normalize_digits_only(candidate, keep_non_digits=True)
    return {NOT_DIGIT.sub("", text) for text in _parsed_texts(ascii_digits)} - {""}


def _parsed_texts(candidate: str) -> Iterator[str]:
    """What PhoneNumberMatcher parses for `candidate` until one is a number: all of it,
    then per inner pattern, in the matcher's own loop, the text before its first match and
    the group each match captures."""
    yield candidate
    for pattern in MATCHER_INNER_GROUPS:
        match = pattern.search(candidate)
        if match:
            yield candidate[: match.start()]
        while match:
            yield match.group(1)
            match = pattern.search(candidate, match.start() + 1)
