"""spaCy's prefix, suffix and infix searches and its URL match, run only where the regex
could match.

For every chunk it has not met, spaCy's tokenizer searches a prefix regex, a suffix regex
(hundreds of `...$` alternatives, each tried at every position of the string) and an infix
regex (tried at every position of the string): most of its cost. Each regex is parsed once
to learn which characters a match can start with (prefix, infix) or end with (suffix, per
alternative). The prefix regex is matched at the start (its alternatives are anchored there)
only when the string's first character is in its set, and searched only in strings holding
a character an alternative not anchored there can start with (Indonesian's `<a...>`); the
suffix search runs a regex of only the alternatives that can end in the string's last
character; the infix regex is matched only at the positions holding a character its
matches can start with. The tokens are
spaCy's exactly. A regex this analysis does not understand (a negated class, `\\w`, a
case-insensitive flag, an alternative that can match nothing, an anchor other than `^` / `$`
at the ends) keeps its plain search. The URL match (a long regex, tried on every piece
left after the affixes) runs only on strings holding a character every match consumes (a
URL's host has a `.`).

`affix_reach` reads the same regexes for the word splitter: where an alternative could cut a
word made only of letters (or only of ASCII digits), so that the words spaCy keeps whole are
known without asking it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from re import _compiler as sre_compile  # the parser and compiler re itself uses (3.11+)
from re import _constants as sre
from re import _parser as sre_parse

ZERO_WIDTH = frozenset({sre.AT, sre.ASSERT, sre.ASSERT_NOT})
REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT})


def guard_affix_searches(tokenizer, special_cases: dict) -> None:
    """Install the guarded prefix, suffix and infix searches on a spaCy tokenizer built
    without special cases, then load `special_cases`. spaCy loads every special case again
    each time a search is set, and tries each against the searches: Indonesian's 16,000
    take seconds, so they are loaded once, after the guarded searches."""
    prefix = _pattern(tokenizer.prefix_search)
    if prefix is not None and (starts := _prefix_start_chars(prefix)) is not None:
        tokenizer.prefix_search = partial(_match_prefix, prefix, *starts)
    suffix = _pattern(tokenizer.suffix_search)
    if suffix is not None and (guarded := _guarded_suffix_search(suffix)) is not None:
        tokenizer.suffix_search = guarded
    infix = _pattern(tokenizer.infix_finditer)
    if infix is not None and (starts := _infix_start_chars(infix)) is not None:
        tokenizer.infix_finditer = partial(_find_infixes, infix.match, starts)
    url = _pattern(tokenizer.url_match)
    if url is not None and (held := _held_chars(list(_parsed(url.pattern, url.flags)))):
        tokenizer.url_match = partial(_match_holding, url.match, min(held))
    tokenizer.rules = special_cases


@dataclass(frozen=True)
class CharKind:
    """A kind of character; `span`: its code points when they are one range (ASCII digits),
    against which a class's ranges are checked at once."""

    holds: Callable[[str], bool]
    span: tuple[int, int] | None = None

    def meets(self, first: int, last: int) -> bool:
        """Whether a character of this kind lies in the code points `first`..`last`."""
        if self.span is not None:
            return first <= self.span[1] and last >= self.span[0]
        return any(self.holds(chr(code)) for code in range(first, last + 1))


def _letter(char: str) -> bool:
    """A letter, for Python or, unassigned in its Unicode tables, perhaps for Arrow's."""
    return char.isalpha() or unicodedata.category(char) == "Cn"


LETTERS = CharKind(_letter)
ASCII_DIGITS = CharKind(lambda char: "0" <= char <= "9", (ord("0"), ord("9")))


@dataclass(frozen=True)
class Reach:
    """Where a language's affix rules can cut a string made only of one kind of character
    (letters, or ASCII digits): the characters such a string must not start with (a prefix
    could match there: Indonesian's `USD` in `USDA`), end with (a suffix) or hold anywhere
    (an infix) for spaCy to keep it whole. None: the rules could cut any such string."""

    first: frozenset[str] | None
    last: frozenset[str] | None
    anywhere: frozenset[str] | None

    def keeps(self, word: str) -> bool:
        """Whether spaCy's affix rules keep `word` (of this kind, not a special case) whole."""
        if self.first is None or self.last is None or self.anywhere is None:
            return False
        return (
            word[0] not in self.first
            and word[-1] not in self.last
            and self.anywhere.isdisjoint(word)
        )


def affix_reach(tokenizer, kind: CharKind) -> Reach:
    """The `Reach` of a tokenizer's prefix, suffix and infix regexes (spaCy's own, before
    `guard_affix_searches`) over strings of `kind` characters. An alternative is left out
    when a character it consumes, or one a lookbehind or lookahead asks for, cannot be of
    that kind (the units after a digit, `'s`); what this cannot read could match."""
    return Reach(
        first=_reach(tokenizer.prefix_search, kind, _first_chars),
        last=_reach(tokenizer.suffix_search, kind, _last_chars),
        anywhere=_reach(tokenizer.infix_finditer, kind, _first_chars),
    )


def _reach(search: Callable | None, kind: CharKind, edge) -> frozenset[str] | None:
    """The `kind` characters a match, within a string of such characters only, can start
    (`edge`: `_first_chars`) or end (`_last_chars`) with."""
    if search is None:
        return frozenset()
    pattern = _pattern(search)
    if pattern is None:
        return None
    nodes = list(_parsed(pattern.pattern, pattern.flags))
    alternatives = _alternatives(nodes)
    reach: set[str] = set()
    for alternative in alternatives:
        if not _may_match_only(list(alternative), kind):
            continue
        chars = edge(list(alternative))
        if chars is None:  # unknown, or the alternative consumes nothing
            return None
        reach.update(filter(kind.holds, chars))
    return frozenset(reach)


def _may_match_only(nodes: list, kind: CharKind) -> bool:
    """Whether `nodes` might match inside a string of `kind` characters only."""
    for op, av in nodes:
        if op in (sre.LITERAL, sre.IN) and not _class_may_hold(op, av, kind):
            return False
        elif op == sre.BRANCH:
            if not any(_may_match_only(list(branch), kind) for branch in av[1]):
                return False
        elif op == sre.SUBPATTERN:
            if not _may_match_only(list(av[-1]), kind):
                return False
        elif op in REPEATS:
            if av[0] >= 1 and not _may_match_only(list(av[2]), kind):
                return False
        elif op == sre.ASSERT and not _may_match_only(list(av[1]), kind):
            return False  # a lookaround asking for another kind of character
    return True


def _match_prefix(
    pattern: re.Pattern, starts: frozenset[str], anywhere: frozenset[str], string: str
) -> re.Match | None:
    if anywhere and not anywhere.isdisjoint(string):
        return pattern.search(string)
    return pattern.match(string) if string and string[0] in starts else None


class _SuffixSearch(dict):
    """The suffix regex cut by last character: for a string ending in `c`, only the
    alternatives whose match can end in `c` can match, so the regex made of just those (in
    their order) finds the same leftmost match. Built per character on first need."""

    def __init__(self, pattern: re.Pattern, parsed, alternatives: list, ends: list) -> None:
        super().__init__()
        self.search = pattern.search
        self.flags = pattern.flags
        self.state = parsed.state
        self.alternatives = list(zip(alternatives, ends, strict=True))

    def __call__(self, string: str) -> re.Match | None:
        if not string:
            return None
        # `$` also matches before a final newline; such a string takes the whole regex.
        if string[-1] == "\n":
            return self.search(string)
        search = self[string[-1]]
        return search(string) if search is not None else None

    def __missing__(self, last: str) -> Callable | None:
        chosen = [alternative for alternative, ends in self.alternatives if last in ends]
        branch = sre_parse.SubPattern(self.state, [(sre.BRANCH, (None, chosen))])
        self[last] = sre_compile.compile(branch, self.flags).search if chosen else None
        return self[last]


def _find_infixes(match: Callable, starts: frozenset[str], string: str) -> list[re.Match]:
    """`finditer`'s matches: every match consumes a character, so a match can only begin
    where a character it can start with stands."""
    found: list[re.Match] = []
    if starts.isdisjoint(string):
        return found
    end = 0
    for position, char in enumerate(string):
        if char in starts and position >= end and (infix := match(string, position)):
            found.append(infix)
            end = infix.end()
    return found


def _match_holding(match: Callable, held: str, string: str) -> re.Match | None:
    return match(string) if held in string else None


def _held_chars(nodes: list) -> frozenset[str]:
    """Characters every match of `nodes` consumes (a literal outside any optional part, or
    one all alternatives consume); empty when unknown."""
    held: set[str] = set()
    for op, av in nodes:
        if op == sre.LITERAL:
            held.add(chr(av))
        elif op == sre.BRANCH:
            held |= frozenset.intersection(*(_held_chars(list(branch)) for branch in av[1]))
        elif op == sre.SUBPATTERN and not av[1] & re.IGNORECASE:
            held |= _held_chars(list(av[-1]))
        elif op in REPEATS and av[0] >= 1:
            held |= _held_chars(list(av[2]))
    return frozenset(held)


def _pattern(search: Callable | None) -> re.Pattern | None:
    pattern = getattr(search, "__self__", None)
    if isinstance(pattern, re.Pattern) and not pattern.flags & re.IGNORECASE:
        return pattern
    return None


def _parse(pattern: re.Pattern) -> sre_parse.SubPattern | None:
    """The parsed regex when every match consumes at least one character, else None."""
    parsed = _parsed(pattern.pattern, pattern.flags)
    return parsed if parsed.getwidth()[0] >= 1 else None


@cache
def _parsed(pattern: str, flags: int) -> sre_parse.SubPattern:
    """A regex parsed as `re` parses it (the guards and `affix_reach` read it: once)."""
    return sre_parse.parse(pattern, flags)


def _prefix_start_chars(pattern: re.Pattern) -> tuple[frozenset[str], frozenset[str]] | None:
    """What a match of the alternatives anchored by `^` can start with (where those match,
    a search is a match at the start), and what a match of the others can; None: unknown."""
    parsed = _parse(pattern)
    if parsed is None or pattern.flags & re.MULTILINE:
        return None
    alternatives = [list(alternative) for alternative in _alternatives(parsed)]
    anchored = [nodes for nodes in alternatives if _anchored(nodes, sre.AT_BEGINNING)]
    elsewhere = [nodes for nodes in alternatives if not _anchored(nodes, sre.AT_BEGINNING)]
    starts = _union(map(_first_chars, anchored))
    anywhere = _union(map(_first_chars, elsewhere))
    return None if starts is None or anywhere is None else (starts, anywhere)


def _alternatives(parsed) -> list:
    """The top-level alternatives of a parsed regex (itself when it has none)."""
    return parsed[0][1][1] if [op for op, _ in parsed] == [sre.BRANCH] else [parsed]


def _infix_start_chars(pattern: re.Pattern) -> frozenset[str] | None:
    """What an infix match can start with; None: unknown."""
    parsed = _parse(pattern)
    return None if parsed is None else _first_chars(list(parsed))


def _anchored(nodes: list, anchor) -> bool:
    """Whether every match of `nodes` starts (`sre.AT_BEGINNING`) or ends (`sre.AT_END`)
    at that anchor."""
    if not nodes:
        return False
    op, av = nodes[0 if anchor == sre.AT_BEGINNING else -1]
    if op == sre.AT:
        return av == anchor
    if op == sre.BRANCH:
        return all(_anchored(list(branch), anchor) for branch in av[1])
    if op == sre.SUBPATTERN:
        return not av[1] & re.IGNORECASE and _anchored(list(av[-1]), anchor)
    return False


def _first_chars(nodes: list) -> frozenset[str] | None:
    """The characters the first character a match of `nodes` consumes can be; None: unknown."""
    return _last_chars(nodes[::-1], reverse=True)


def _guarded_suffix_search(pattern: re.Pattern) -> Callable | None:
    parsed = _parse(pattern)
    if (
        parsed is None
        or not _anchored(list(parsed), sre.AT_END)
        or _anchors(parsed) != {sre.AT_END}
    ):
        return None
    alternatives = _alternatives(parsed)
    ends = [_last_chars(list(alternative)) for alternative in alternatives]
    if any(chars is None for chars in ends):
        return None
    return _SuffixSearch(pattern, parsed, alternatives, ends)


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


def _last_chars(nodes: list, reverse: bool = False) -> frozenset[str] | None:
    """The characters the last character a match of `nodes` consumes can be; None: unknown.
    `reverse`: `nodes` is reversed, and the answer is about the first character."""
    for op, av in reversed(nodes):
        if op in ZERO_WIDTH:
            continue
        if op in (sre.LITERAL, sre.IN):
            return _class_chars(op, av)
        if op == sre.BRANCH:
            return _union(_last_chars(_ordered(branch, reverse), reverse) for branch in av[1])
        if op == sre.SUBPATTERN and not av[1] & re.IGNORECASE:
            return _last_chars(_ordered(av[-1], reverse), reverse)
        if op in REPEATS and av[0] >= 1:
            return _last_chars(_ordered(av[2], reverse), reverse)
        return None
    return None


def _ordered(nodes, reverse: bool) -> list:
    return list(nodes)[::-1] if reverse else list(nodes)


def _class_may_hold(op, av, kind: CharKind) -> bool:
    """Whether a character class (or literal) may match a `kind` character."""
    if op == sre.LITERAL:
        return kind.holds(chr(av))
    for item, value in av:
        if item == sre.LITERAL and kind.holds(chr(value)):
            return True
        if item == sre.RANGE and kind.meets(*value):
            return True
        if item not in (sre.LITERAL, sre.RANGE):  # a negated class or a category such as \w
            return True
    return False


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
