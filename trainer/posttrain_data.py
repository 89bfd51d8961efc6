"""A post-training config's data before any model: its records read and split, tokenized and
cut to `data.seq_len`, and what was left out on the way, counted.

The trainer trains on it (trainer/posttrain.py) and `tokenmill validate` reads the same, so
a run that would have nothing to train on, or would leave most of its data out, is known
before it starts. Each kind keeps what its objective needs: SFT's conversations as token
examples, reward's and DPO's pairs as rows, GRPO's prompts with the records their verifier
reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
from tokenizers import Tokenizer

from trainer.chat_data import (
    Rows,
    pack,
    preference_rows,
    prompts_within,
    read_records,
    sft_examples,
    within_rows,
)
from trainer.config import PosttrainConfig, TrainConfigError
from trainer.start import start_tokenizer
from trainer.storage import Location, location


@dataclass
class PosttrainData(ABC):
    """What every kind's data says of itself."""

    unit: ClassVar[str]
    """What one training example is: `conversations`, `pairs` or `prompts`."""
    left_out: list[tuple[int, str]] = field(default_factory=list)
    """(count, why): records left out or cut, as the run prints them (a count may be 0)."""
    record_fields: tuple[str, ...] = ()
    """The fields the training records have (of the first thousand): what a config that
    leaves them all out might have meant to name."""

    @property
    @abstractmethod
    def train_count(self) -> int:
        """Examples to train on."""

    @property
    @abstractmethod
    def val_count(self) -> int:
        """Examples held out."""


@dataclass
class Conversations(PosttrainData):
    unit = "conversations"
    examples: list = field(default_factory=list)
    """SFT's training examples, each cut to a row (packed per epoch)."""
    val_examples: list = field(default_factory=list)
    seq_len: int = 0

    @property
    def train_count(self) -> int:
        return len(self.examples)

    @property
    def val_count(self) -> int:
        return len(self.val_examples)

    @cached_property
    def val_rows(self) -> Rows:
        return pack(self.val_examples, self.seq_len)


@dataclass
class Pairs(PosttrainData):
    unit = "pairs"
    pairs: Rows | None = None
    val_rows: Rows | None = None

    @property
    def train_count(self) -> int:
        return len(self.pairs)

    @property
    def val_count(self) -> int:
        return len(self.val_rows)


@dataclass
class Prompts(PosttrainData):
    unit = "prompts"
    records: list[dict] = field(default_factory=list)
    """Each prompt's record, which the verifier reads (its answer)."""
    prompts: list = field(default_factory=list)
    val_records: list[dict] = field(default_factory=list)
    val_prompts: list = field(default_factory=list)

    @property
    def train_count(self) -> int:
        return len(self.prompts)

    @property
    def val_count(self) -> int:
        return len(self.val_prompts)


def tokenizer_location(config: PosttrainConfig) -> Location:
    if config.data.tokenizer:
        return location(config.data.tokenizer)
    return start_tokenizer(config.init_from)


def load_tokenizer(config: PosttrainConfig) -> Tokenizer:
    return Tokenizer.from_str(tokenizer_location(config).read_text(encoding="utf-8"))


def read_data(config: PosttrainConfig, tokenizer: Tokenizer) -> PosttrainData:
    """`config`'s data as its kind trains on it (TrainConfigError where the held-out share
    leaves nothing; a file that cannot be read is a TrainingError naming it)."""
    left_out: list[tuple[int, str]] = []
    train, val = _split_records(config, left_out)
    if config.kind == "sft":
        data = _conversations(config, train, val, tokenizer, left_out)
    elif config.kind == "grpo":
        data = _prompts(config, train, val, tokenizer, left_out)
    else:
        data = _pairs(config, train, val, tokenizer, left_out)
    data.record_fields = tuple(dict.fromkeys(key for record in train[:1000] for key in record))
    return data


def nothing_to_train_on(config: PosttrainConfig, data: PosttrainData) -> str | None:
    """Why a run of `config` would have nothing to train on (its loader would wait forever
    for a row), or None: with what was left out, and the fields its records have, which
    tell what to name (TRL's `completion` for `response`)."""
    if data.train_count:
        return None
    counted = "; ".join(f"{count} {what}" for count, what in data.left_out if count)
    fields = ", ".join(data.record_fields)
    return (
        f"{config.data.train}: no {data.unit} to train on (an empty file, or every record "
        f"left out{f': {counted}' if counted else ''})"
        f"{f'; its records have: {fields}' if fields else ''}"
    )


def _split_records(
    config: PosttrainConfig, left_out: list[tuple[int, str]]
) -> tuple[list[dict], list[dict]]:
    """Training and held-out records: `data.val`, or the first `val_examples` of a shuffle."""
    data = config.data
    records = _records_of(data.train, left_out)
    if data.val:
        train, val = records, _records_of(data.val, left_out)[: data.val_examples or None]
    else:
        if records and data.val_examples >= len(records):
            raise TrainConfigError(
                f"data.val_examples: holding out {data.val_examples} of the {len(records)} "
                f"records of {data.train} leaves none to train on"
            )
        order = np.random.default_rng(config.train.seed).permutation(len(records))
        shuffled = [records[i] for i in order]
        train, val = shuffled[data.val_examples :], shuffled[: data.val_examples]
    return train[: data.max_examples], val


def _records_of(path: str, left_out: list[tuple[int, str]]) -> list[dict]:
    records, skipped = read_records(path)
    left_out.append((skipped, f"lines of {path} left out: not a JSON object"))
    return records


def _conversations(
    config: PosttrainConfig,
    train: list[dict],
    val: list[dict],
    tokenizer: Tokenizer,
    left_out: list[tuple[int, str]],
) -> Conversations:
    """SFT's examples, each cut to a row; those the cut leaves nothing to train on are left
    out and counted, as TRL's SFTTrainer drops them, and so are those it cuts."""
    data, total = config.data, len(train) + len(val)
    examples = [
        sft_examples(records, tokenizer, data.prompt_key, data.response_key)
        for records in (train, val)
    ]
    left_out.append(
        (
            total - sum(map(len, examples)),
            f"of {total} conversations left out: malformed (`messages` or "
            f"`{data.prompt_key}`/`{data.response_key}` missing or not text, or a role the "
            "chat template lacks)",
        )
    )
    (kept, cut), (val_kept, val_cut) = (within_rows(part, data.seq_len) for part in examples)
    left_out += [
        (
            sum(map(len, examples)) - len(kept) - len(val_kept),
            f"of {total} conversations left out: no response token within data.seq_len "
            f"{data.seq_len}",
        ),
        (
            cut + val_cut,
            f"of {total} conversations cut to data.seq_len {data.seq_len}: their tokens "
            "past it are not trained on",
        ),
    ]
    return Conversations(left_out, examples=kept, val_examples=val_kept, seq_len=data.seq_len)


def _pairs(
    config: PosttrainConfig,
    train: list[dict],
    val: list[dict],
    tokenizer: Tokenizer,
    left_out: list[tuple[int, str]],
) -> Pairs:
    seq_len = config.data.seq_len
    pairs = preference_rows(train, tokenizer, seq_len)
    val_rows = preference_rows(val, tokenizer, seq_len)
    left_out.append(
        (
            len(train) + len(val) - len(pairs) - len(val_rows),
            f"of {len(train) + len(val)} pairs left out: malformed, or no answer within "
            f"data.seq_len {seq_len}",
        )
    )
    return Pairs(left_out, pairs=pairs, val_rows=val_rows)


def _prompts(
    config: PosttrainConfig,
    train: list[dict],
    val: list[dict],
    tokenizer: Tokenizer,
    left_out: list[tuple[int, str]],
) -> Prompts:
    data = config.data
    limit = data.seq_len - config.grpo.max_new_tokens
    records, prompts = prompts_within(train, tokenizer, data.prompt_key, limit)
    val_records, val_prompts = prompts_within(val, tokenizer, data.prompt_key, limit)
    left_out.append(
        (
            len(train) + len(val) - len(prompts) - len(val_prompts),
            f"of {len(train) + len(val)} prompts left out: malformed, or longer than "
            f"data.seq_len - grpo.max_new_tokens = {limit} tokens",
        )
    )
    return Prompts(
        left_out,
        records=records,
        prompts=prompts,
        val_records=val_records,
        val_prompts=val_prompts,
    )
