"""Character classes the published rules are defined with (copied from datatrove 0.10)."""

from __future__ import annotations

from functools import cache

from filters.torch_hidden import torch_hidden

PUNCTUATION = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(
        chr(code)
        for low, high in ((0, 9), (11, 13), (13, 32), (127, 160))
        for code in range(low, high)
    )
)
"""What datatrove counts as a symbol: a word made only of these is no word for Gopher."""

TERMINAL_PUNCTUATION = frozenset(
    "!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98\U0001bc9f\U0001da88"
)
"""Characters that end a sentence in any script: FineWeb's line-punctuation rule."""

PUNCTUATION_SET = frozenset(PUNCTUATION) | TERMINAL_PUNCTUATION

WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""The characters `str.split()` splits at (those whose `str.isspace()` is true)."""


@cache
def sentence_punctuation() -> frozenset[str]:
    """Tokens after which spaCy's sentencizer may start a sentence (C4 counts sentences
    with it). Read on first use: importing spaCy takes seconds, which every process that
    only builds the stage list (the driver, a worker running other stages) would pay."""
    with torch_hidden():
        from spacy.pipeline import Sentencizer

    return frozenset(Sentencizer.default_punct_chars)
