"""The chat template: conversations as token ids on the fixed special tokens (ids 3-6).

    <|bos|><|system|>…<|end|><|user|>…<|end|><|assistant|>…<|end|>

Every stage uses it (SFT, reward, DPO), so does `tokenmill generate --chat`, and the HF export
writes the same template as Jinja (`CHAT_TEMPLATE`), so transformers' `apply_chat_template`
gives the same ids. What is trained on is each assistant turn's text and its `<|end|>`: the
model learns to answer and to stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

SPECIAL_TOKENS = (
    "<|pad|>",
    "<|bos|>",
    "<|eos|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)
"""In id order: the same ids in every tokenmill tokenizer (DESIGN.md). Defined here, where the
trainer (which may import no curation package) reads them; the tokenizer trains with them."""
PAD_ID, BOS_ID, EOS_ID, SYSTEM_ID, USER_ID, ASSISTANT_ID, END_ID = range(len(SPECIAL_TOKENS))
ROLE_IDS = {"system": SYSTEM_ID, "user": USER_ID, "assistant": ASSISTANT_ID}

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
"""`render`'s template in Jinja, for `tokenizer_config.json`."""

Message = dict[str, str]


@dataclass(frozen=True)
class Encoded:
    """A conversation's ids and, per id, 1 where it is trained on (assistant text and `<|end|>`)."""

    ids: np.ndarray
    trained: np.ndarray


def _text_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    """Message text as ordinary tokens: a literal "<|end|>" in it is text, never a special id."""
    tokenizer.encode_special_tokens = True
    return tokenizer.encode(text, add_special_tokens=False).ids


def render(
    tokenizer: Tokenizer, messages: list[Message], generation_prompt: bool = False
) -> Encoded:
    """The template's ids for `messages`; `generation_prompt` appends `<|assistant|>` to answer."""
    ids, trained = [BOS_ID], [0]
    for message in messages:
        role = message["role"]
        if role not in ROLE_IDS:
            raise ValueError(f"message role {role!r}: expected one of {', '.join(ROLE_IDS)}")
        text = [*_text_ids(tokenizer, message["content"]), END_ID]
        ids += [ROLE_IDS[role], *text]
        trained += [0] + [int(role == "assistant")] * len(text)
    if generation_prompt:
        ids.append(ASSISTANT_ID)
        trained.append(0)
    return Encoded(np.array(ids, np.int64), np.array(trained, np.int64))
