"""Dev check: our word split (`filters/quality/words.py`) gives exactly datatrove's tokens.

Splits every extracted trafilatura page with `WordSplitter` (in batches, cold cache, as the
quality stage does) and with datatrove's spaCy `word_tokenize`, and exits non-zero if any
page's token lists differ (printing the first differing tokens). With `--affixes`, also
compares our guarded prefix/suffix/infix searches (`filters/quality/affixes.py`) with a
plain spaCy tokenizer's on every string spaCy could ask about: each chunk of the pages with
up to 3 characters cut from either end (about 1.1M strings, a minute). Run after any change
to how chunks are split without spaCy:

    python -m benchmarks.word_split_check [--corpora DIR] [--pages FILE.parquet] [--batch 64]
        [--affixes]
"""

from __future__ import annotations

import argparse
import sys

import pyarrow.compute as pc

from benchmarks.filters import add_page_arguments, pages
from filters.quality.words import WordSplitter
from pipeline.sandbox import TIMED_GROUP


def our_tokens(texts, batch: int) -> list[list[str]]:
    splitter = WordSplitter("en")
    tokens = []
    for start in range(0, len(texts), batch):
        tokens += splitter.split(texts.slice(start, batch)).strings()
    return tokens


def affix_differences(texts) -> int:
    import spacy

    from filters.quality.words import spacy_tokenizer

    ours, plain = spacy_tokenizer("en"), spacy.blank("en").tokenizer
    chunks = pc.split_pattern_regex(texts, r"\s+").flatten().unique().to_pylist()
    strings = {
        c[i:j]
        for c in chunks
        for i in range(min(4, len(c)))
        for j in range(max(i + 1, len(c) - 3), len(c) + 1)
    }
    differ = 0
    for string in strings:
        for name in ("prefix_search", "suffix_search"):
            mine, theirs = getattr(ours, name)(string), getattr(plain, name)(string)
            if (mine and mine.span()) != (theirs and theirs.span()):
                differ += 1
                print(f"{name} {string!r}: ours {mine} spaCy {theirs}")
        mine = [m.span() for m in ours.infix_finditer(string)]
        if mine != [m.span() for m in plain.infix_finditer(string)]:
            differ += 1
            print(f"infix_finditer {string!r}: ours {mine}")
    print(f"affix searches that differ: {differ} of {3 * len(strings)}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_page_arguments(parser)
    parser.add_argument("--batch", type=int, default=TIMED_GROUP, help="documents per split")
    parser.add_argument("--affixes", action="store_true", help="also check the affix searches")
    args = parser.parse_args()
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    texts = pc.fill_null(pages(args.corpora, args.pages)["text"], "").combine_chunks()
    ours = our_tokens(texts, args.batch)
    theirs = load_word_tokenizer("en")
    differ = 0
    for index, (text, mine) in enumerate(zip(texts.to_pylist(), ours, strict=True)):
        expected = theirs.word_tokenize(text)
        if mine != expected:
            differ += 1
            at = next(
                (
                    i
                    for i, pair in enumerate(zip(mine, expected, strict=False))
                    if pair[0] != pair[1]
                ),
                min(len(mine), len(expected)),
            )
            print(f"page {index}: ours {mine[at : at + 5]} datatrove {expected[at : at + 5]}")
    print(f"pages whose tokens differ: {differ} of {len(texts)}")
    if args.affixes:
        differ += affix_differences(texts)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
