"""Byte-level BPE with Hugging Face `tokenizers`: train, load, fingerprint.

Normalisation: none. Byte-level BPE is lossless, so decode(encode(text)) == text for any
Unicode text; Unicode normalisation, if wanted, belongs to the curation stages where it
is visible in the documents. Pre-tokenisation: Llama 3's split (letters with one leading
non-letter, numbers in groups of up to three digits, punctuation runs, newlines, spaces),
then GPT-2's byte-to-unicode mapping, so any byte sequence is encodable and no text is
ever `<unk>`. Special tokens are added first, so they take ids 0-6, and are never
matched inside document text (`encode_special_tokens`): a page that contains the string
`<|eos|>` is encoded as those characters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from pipeline.schema import ConfigError, regular_file
from trainer.chat import SPECIAL_TOKENS

SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


TRAINING_PIECE = 64
"""Training cuts each pre-token into pieces of at most this many characters. The BPE
trainer rescans every word that holds the pair it merges, so a long word (a megabyte of
letters without a space: a DNA sequence, a blob of markup) was rescanned at nearly every
merge: training time grew with the square of its length, and 3 MB of it held a run's
tokenizer training for over ten minutes until stopped (now 3 s). Words of natural text
are shorter and train as before (a run of spaces, deep indentation, counts as pieces); no
token longer than this is learned, and encoding splits text as it always did."""


def new_bpe() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = _pre_tokenizer()
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _pre_tokenizer(longest: int | None = None) -> pre_tokenizers.PreTokenizer:
    """The split (each piece cut to at most `longest` characters, where given), then the
    bytes as characters."""
    steps = [pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")]
    if longest is not None:
        steps.append(pre_tokenizers.Split(Regex(rf"[\s\S]{{1,{longest}}}"), behavior="isolated"))
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    return pre_tokenizers.Sequence(steps)


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    tokenizer = new_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.pre_tokenizer = _pre_tokenizer(longest=TRAINING_PIECE)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.pre_tokenizer = _pre_tokenizer()
    return for_documents(tokenizer, "<trained>")


def load_tokenizer(path: str) -> Tokenizer:
    """A `tokenizer.json` from a local path or fsspec URL, checked for the special ids; a
    ConfigError naming it where it is none."""
    import fsspec

    try:
        path = regular_file(path)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    try:
        with fsspec.open(path, "r", encoding="utf-8") as handle:
            tokenizer = Tokenizer.from_str(handle.read())
    except Exception as err:
        raise ConfigError(f"{path}: not a tokenizers JSON file ({err})") from None
    try:
        return for_documents(tokenizer, path)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def for_documents(tokenizer: Tokenizer, origin: str) -> Tokenizer:
    """Check the fixed special ids and stop special tokens from matching document text."""
    wrong = [
        f"{token} is {tokenizer.token_to_id(token)}, expected {expected}"
        for expected, token in enumerate(SPECIAL_TOKENS)
        if tokenizer.token_to_id(token) != expected
    ]
    if wrong:
        raise ValueError(f"{origin}: special token ids differ from tokenmill's: {'; '.join(wrong)}")
    tokenizer.encode_special_tokens = True
    return tokenizer


def fingerprint(tokenizer: Tokenizer) -> str:
    """sha256 of the tokenizer's canonical JSON: equal hashes encode text identically."""
    canonical = json.dumps(json.loads(tokenizer.to_str()), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
