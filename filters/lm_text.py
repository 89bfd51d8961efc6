"""The text a KenLM model sees, identical at training and at scoring time.

CCNet's normalisation (`cc_net.text_normalizer.normalize` with its defaults): lower case,
accents stripped, every digit folded to `0`, Unicode punctuation mapped to its ASCII
counterpart, non-printing characters removed. Tokens are whitespace-separated words with
punctuation split off as tokens of their own (`"hello, world"` → `" hello , world "`);
CCNet uses SentencePiece pieces instead, which would need a tokenizer model trained and
shipped beside every LM, while this is stable, needs none, and matches how the model is
queried (KenLM splits on spaces). Everything is an Arrow compute call over a whole column.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# CCNet's UNICODE_PUNCT, grouped by the ASCII it becomes.
UNICODE_PUNCT: dict[str, str] = {
    ",": "，、",
    ". ": "。．",
    '"': "„”“«»１」「《》",
    "'": "´’",
    ":": "∶：",
    "?": "？",
    "!": "！",
    "(": "（",
    ")": "）",
    ";": "；",
    "-": "–━►",
    " - ": "—",
    "~": "～",
    "...": "…",
    "<": "〈",
    ">": "〉",
    "[": "【",
    "]": "】",
    "%": "％",
}
NON_PRINTING = r"[\x00-\x1f\x7f-\x9f]"


def normalize(lines: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """CCNet-normalised, tokenised text of each line (null stays null)."""
    text = pc.utf8_lower(lines)
    text = pc.utf8_normalize(text, form="NFD")
    text = pc.replace_substring_regex(text, r"\p{Mn}", "")  # the accents NFD split off
    text = pc.replace_substring_regex(text, r"\p{Nd}", "0")
    for ascii_punct, variants in UNICODE_PUNCT.items():
        text = pc.replace_substring_regex(text, f"[{variants}]", ascii_punct)
    text = pc.replace_substring_regex(text, NON_PRINTING, " ")
    text = pc.replace_substring_regex(text, r"([^\p{L}\p{N}\s])", r" \1 ")
    text = pc.replace_substring_regex(text, r"\s+", " ")
    return pc.utf8_trim_whitespace(text)


def word_counts(normalized: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Tokens per normalised line."""
    spaces = pc.count_substring(normalized, " ")
    return pc.if_else(pc.equal(normalized, ""), 0, pc.add(spaces, 1))
