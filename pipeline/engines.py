"""The extraction engines by name: decoded HTML → its main text. Each loads its library on
first use, so naming them (the CLI's choices) costs nothing."""

from __future__ import annotations

from collections.abc import Callable


def tokenmill_text(html: str | bytes) -> str:
    from pipeline.maintext import extract_main_text

    return extract_main_text(html)


def resiliparse_text(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    options = {"preserve_formatting": True, "alt_texts": False}
    main = extract_plain_text(tree, main_content=True, **options).strip()
    # Its main-content heuristics find nothing on ~1% of pages; their whole text beats losing them.
    return main or extract_plain_text(tree, main_content=False, **options)


def trafilatura_text(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True) or ""


UTF8_BYTES_ENGINES = frozenset({"tokenmill"})
"""Engines that also take a page's valid UTF-8 as the bytes it is: lexbor parses bytes, and
a str it would first encode back to them (a fifth of a millisecond on a typical page)."""

ENGINES: dict[str, Callable[[str], str]] = {
    "tokenmill": tokenmill_text,
    "resiliparse": resiliparse_text,
    "trafilatura": trafilatura_text,
}
