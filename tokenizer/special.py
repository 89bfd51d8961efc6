"""Special tokens: the same ids in every tokenmill tokenizer (DESIGN.md)."""

from __future__ import annotations

SPECIAL_TOKENS = (
    "<|pad|>",
    "<|bos|>",
    "<|eos|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)
"""In id order: `<|pad|>` is 0, `<|bos|>` 1, ... `<|end|>` 6."""

PAD_ID, BOS_ID, EOS_ID, SYSTEM_ID, USER_ID, ASSISTANT_ID, END_ID = range(len(SPECIAL_TOKENS))
