"""WikiText's pre-tokenised text turned back into ordinary prose, for test corpora.

WikiText splits punctuation off words (`end , and`), marks in-number punctuation as
`@-@`, `@,@`, `@.@` and replaces rare words with `<unk>`. Left as is, every number
reads `1 @,@ 000`, which no real document does.
"""

from __future__ import annotations

import re
from pathlib import Path

REPLACEMENTS = (
    (re.compile(r" @(.)@ "), r"\1"),  # 1 @,@ 000 → 1,000 ; well @-@ known → well-known
    (re.compile(r" ?<unk> ?"), " "),
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r'" (.*?) "'), r'"\1"'),
    (re.compile(r" {2,}"), " "),
)


def detokenise(line: str) -> str:
    for pattern, replacement in REPLACEMENTS:
        line = pattern.sub(replacement, line)
    return line.strip()


def paragraphs(path: Path, min_chars: int = 200) -> list[str]:
    """The detokenised body paragraphs of a WikiText file (headings and short lines left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    texts = (
        detokenise(line) for line in lines if line.strip() and not line.strip().startswith("=")
    )
    return [text for text in texts if len(text) >= min_chars]
