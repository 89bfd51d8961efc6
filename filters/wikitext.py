"""WikiText → plain prose, so models trained on it learn language, not its formatting.

WikiText is pre-tokenised: punctuation is spaced out (`word , word`), numbers are split
with `@-@`, `@,@` and `@.@`, rare words are `<unk>`, and articles are laid out as
` = Title = ` and ` = = Section = = ` heading lines between paragraph lines. `detokenize`
undoes the tokenisation of one line; `articles` and `paragraphs` read a whole file.
`<unk>` is dropped rather than kept as a word that no real text contains.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.compressed import decompressed_bytes

ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")
HEADING = re.compile(r"^ (= )+.*( =)+ $")

# Order matters: number joiners first, then quotes and brackets, then spaced punctuation.
RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?: ?<unk>)+ ?"), " "),
    (re.compile(r" @([-,.])@ "), r"\1"),
    (re.compile(r"\( ([^()]*?) \)"), r"(\1)"),
    (re.compile(r"\[ ([^\[\]]*?) \]"), r"[\1]"),
    (re.compile(r'" ([^"]*?) "'), r'"\1"'),
    (re.compile(r" ([.,;:!?%)\]]|'s|'re|'ve|'ll|'d|n't|')(?= |$)"), r"\1"),
    (re.compile(r"([(\[$£]) "), r"\1"),
    (re.compile(r" ?\(\)|,(?=[,.;:])"), ""),  # what a dropped <unk> leaves behind
    (re.compile(r" {2,}"), " "),
)


def detokenize(line: str) -> str:
    """One WikiText line as ordinary text: `the 1 @,@ 000 @-@ year ( <unk> ) war .` →
    `the 1,000-year war.`"""
    for pattern, replacement in RULES:
        line = pattern.sub(replacement, line)
    return line.strip()


def articles(path: str | Path) -> list[list[str]]:
    """Each article of a WikiText file as its detokenised paragraphs (headings left out)."""
    found: list[list[str]] = []
    for line in decompressed_bytes(str(path)).decode("utf-8-sig").splitlines():
        if ARTICLE_TITLE.match(line):
            found.append([])
        elif line.strip() and not HEADING.match(line) and found:
            paragraph = detokenize(line)
            if paragraph:
                found[-1].append(paragraph)
    return [article for article in found if article]


def paragraphs(path: str | Path) -> list[str]:
    """Every detokenised paragraph of a WikiText file, in order."""
    return [paragraph for article in articles(path) for paragraph in article]
