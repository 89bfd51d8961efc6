"""spaCy's suffix and infix searches, skipped or shortened where the regex cannot match.

For every chunk it has not met, spaCy's tokenizer searches a suffix regex (hundreds of
`...$` alternatives, tried at every position of the string) and an infix regex (scanned over
the whole string); these two are most of its cost. Each regex is parsed once to learn which
characters a match can end with (suffix) or consume at all (infix), and how long a suffix
match can be. A string whose last character (suffix), or every character (infix), is outside
that set cannot match, so the search is skipped and answers "no match". Otherwise spaCy's own
regex runs, the suffix one from the earliest position a match could start at (lookbehinds
still see the characters before it), or from the start when the last character could end an
unbounded alternative (`\\.\\.+`). The tokens are spaCy's exactly. A regex this analysis does
not understand (a negated class, `\\w`, a case-insensitive flag, an alternative that can match
nothing, a suffix anchor other than `$` at the end) keeps its plain search.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from re import _constants as sre  # the parser re itself uses: stable across 3.11+
from re import _parser as sre_parse

ZERO_WIDTH = frozenset({sre.AT, sre.ASSERT, sre.ASSERT_NOT})
REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT})


def guard_affix_searches(tokenizer) -> None:
    """Install the guarded suffix and infix searches on a spaCy tokenizer."""
    suffix = _pattern(tokenizer.suffix_search)
    if suffix is not None and (guarded := _guarded_suffix_search(suffix)) is not None:
        tokenizer.suffix_search = guarded
    infix = _pattern(tokenizer.infix_finditer)
    if infix is not None and (chars := _consumed_chars(_parse(infix))) is not None:
        tokenizer.infix_finditer = partial(_finditer_if_any, infix.finditer, chars)


def _search_suffix(
    search: Callable, ends: frozenset[str], unbounded: frozenset[str], width: int, string: str
) -> re.Match | None:
    if not string:
        return None
    last = string[-1]
    # `$` also matches before a final newline; such a string takes the plain search.
    if last == "\n" or last in unbounded:
        return search(string)
    if last not in ends:
        return None
    return search(string, max(0, len(string) - width))


def _finditer_if_any(
    finditer: Callable, chars: frozenset[str], string: str
) -> Iterator[re.Match] | tuple:
    return () if chars.isdisjoint(string) else finditer(string)


def _pattern(search: Callable | None) -> re.Pattern | None:
    pattern = getattr(search, "__self__", None)
    if isinstance(pattern, re.Pattern) and not pattern.flags & re.IGNORECASE:
        return pattern
    return None


def _parse(pattern: re.Pattern) -> sre_parse.SubPattern | None:
    """The parsed regex when every match consumes at least one character, else None."""
    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    return parsed if parsed.getwidth()[0] >= 1 else None


def _guarded_suffix_search(pattern: re.Pattern) -> Callable | None:
    parsed = _parse(pattern)
    if parsed is None or not _anchored_at_end(list(parsed)) or _anchors(parsed) != {sre.AT_END}:
        return None
    alternatives = parsed[0][1][1] if [op for op, _ in parsed] == [sre.BRANCH] else [parsed]
    widths = [alternative.getwidth()[1] for alternative in alternatives]
    ends = _last_chars(list(parsed))
    unbounded = _union(
        _last_chars(list(alternative))
        for alternative, width in zip(alternatives, widths, strict=True)
        if width >= sre.MAXREPEAT
    )
    if ends is None or unbounded is None:
        return None
    width = max((width for width in widths if width < sre.MAXREPEAT), default=0)
    return partial(_search_suffix, pattern.search, ends, unbounded, width)


def _anchors(nodes) -> set:
    """Every anchor (`^`, `$`, `\\b`, ...) in the regex, lookarounds included."""
    found = set()
    for op, av in nodes:
        if op == sre.AT:
            found.add(av)
        elif op == sre.BRANCH:
            for branch in av[1]:
                found |= _anchors(branch)
        elif op == sre.SUBPATTERN or op in (sre.ASSERT, sre.ASSERT_NOT):
            found |= _anchors(av[-1])
        elif op in REPEATS:
            found |= _anchors(av[2])
    return found


def _anchored_at_end(nodes: list) -> bool:
    if not nodes:
        return False
    op, av = nodes[-1]
    if op == sre.AT:
        return av == sre.AT_END
    if op == sre.BRANCH:
        return all(_anchored_at_end(list(branch)) for branch in av[1])
    if op == sre.SUBPATTERN:
        return not av[1] & re.IGNORECASE and _anchored_at_end(list(av[-1]))
    return False


def _last_chars(nodes: list) -> frozenset[str] | None:
    """The characters the last character a match of `nodes` consumes can be; None: unknown."""
    for op, av in reversed(nodes):
        if op in ZERO_WIDTH:
            continue
        if op in (sre.LITERAL, sre.IN):
            return _class_chars(op, av)
        if op == sre.BRANCH:
            return _union(_last_chars(list(branch)) for branch in av[1])
        if op == sre.SUBPATTERN and not av[1] & re.IGNORECASE:
            return _last_chars(list(av[-1]))
        if op in REPEATS and av[0] >= 1:
            return _last_chars(list(av[2]))
        return None
    return None


def _consumed_chars(nodes) -> frozenset[str] | None:
    """Every character a match of `nodes` can consume (lookarounds consume nothing)."""
    if nodes is None:
        return None
    found = []
    for op, av in nodes:
        if op in ZERO_WIDTH:
            continue
        if op in (sre.LITERAL, sre.IN):
            found.append(_class_chars(op, av))
        elif op == sre.BRANCH:
            found.append(_union(_consumed_chars(branch) for branch in av[1]))
        elif op == sre.SUBPATTERN and not av[1] & re.IGNORECASE:
            found.append(_consumed_chars(av[-1]))
        elif op in REPEATS:
            found.append(_consumed_chars(av[2]))
        else:
            return None
    return _union(found)


def _class_chars(op, av) -> frozenset[str] | None:
    if op == sre.LITERAL:
        return frozenset(chr(av))
    chars: set[str] = set()
    for kind, value in av:
        if kind == sre.LITERAL:
            chars.add(chr(value))
        elif kind == sre.RANGE:
            chars.update(map(chr, range(value[0], value[1] + 1)))
        else:  # a negated class or a category such as \w: could be anything
            return None
    return frozenset(chars)


def _union(sets) -> frozenset[str] | None:
    sets = list(sets)
    return None if any(s is None for s in sets) else frozenset().union(*sets)
