"""Post-training data: conversations for SFT, preference pairs for reward models and DPO,
prompts for GRPO.

Records come from JSONL (optionally .gz), a JSON array or Parquet, local or any fsspec URL.
Accepted forms:
- SFT: `messages` (a list of {role, content}), or a prompt and a response column
  (`prompt`/`response` by default; `data.prompt_key`/`data.response_key` name others, e.g.
  GSM8K's `question`/`answer`);
- preferences: `prompt`/`chosen`/`rejected` (the prompt a string or messages, the answers
  strings), or Anthropic HH-RLHF's `chosen`/`rejected` dialogues in `\\n\\nHuman:` /
  `\\n\\nAssistant:` form, whose shared turns are the prompt;
- GRPO: `messages` (a closing assistant turn left out) or the prompt column; the verifier
  reads the rest of the record (GSM8K's `answer`).
A line that is not a JSON object, or a record without the fields its form needs (as text),
is left out, and the run says how many.

SFT examples are packed into rows of `seq_len`, each example keeping its own document id so
that attention and positions stay inside it (`Transformer.forward(documents=...)`). A pair
is one row of two sequences, chosen then rejected, right-padded. A loader visits the
examples in an order shuffled per epoch by the seed; its state is (epoch, row), so a resumed
run continues with the next unseen row.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer

from trainer.chat import PAD_ID, Message, render
from trainer.errors import TrainingError
from trainer.storage import location

HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def read_records(path: str) -> tuple[list[dict[str, Any]], int]:
    """Every record of a JSONL (.jsonl, .jsonl.gz), JSON array or Parquet file, and how many
    non-blank lines (array items) were left out: not UTF-8, not JSON, or not a JSON object.
    A file that cannot be read at all is a TrainingError naming it."""
    data = location(path).read_bytes()
    if path.endswith(".parquet"):
        try:
            return pq.read_table(io.BytesIO(data)).to_pylist(), 0
        except pa.ArrowException as err:
            raise TrainingError(f"{path}: not a Parquet file pyarrow can read ({err})") from None
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise TrainingError(f"{path}: a damaged or cut gzip file ({err})") from None
    if (array := _json_array(data)) is not None:
        records = [item for item in array if isinstance(item, dict)]
        return records, len(array) - len(records)
    records, left_out = [], 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # also bytes that are not UTF-8
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            left_out += 1
    return records, left_out


def _json_array(data: bytes) -> list | None:
    """The items of a file that is one JSON array (as `datasets` reads a .json file)."""
    if not data.lstrip().startswith(b"["):
        return None
    try:
        value = json.loads(data)
    except ValueError:  # JSON lines whose first line is an array
        return None
    return value if isinstance(value, list) else None


def as_messages(prompt: Any) -> list[Message]:
    """A prompt (a string: one user turn; or messages) as messages; ValueError for any
    other value."""
    return (
        [{"role": "user", "content": prompt}]
        if isinstance(prompt, str)
        else checked_messages(prompt)
    )


def checked_messages(value: Any) -> list[Message]:
    """`value` when it is a list of {role, content} strings; ValueError otherwise."""
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    ):
        raise ValueError("messages: expected a list of {role, content} strings")
    return value


def text_field(record: dict[str, Any], key: str) -> str:
    """`record[key]` when it is a string; ValueError otherwise."""
    value = record.get(key)
    if not isinstance(value, str):
        raise ValueError(f"`{key}`: expected a string, got {type(value).__name__}")
    return value


def conversation(record: dict[str, Any], prompt_key: str, response_key: str) -> list[Message]:
    """An SFT record as messages."""
    if "messages" in record:
        return checked_messages(record["messages"])
    if prompt_key in record and response_key in record:
        reply = {"role": "assistant", "content": text_field(record, response_key)}
        return [*as_messages(record[prompt_key]), reply]
    raise ValueError(f"record has neither `messages` nor `{prompt_key}`/`{response_key}`")


def prompt_messages(record: dict[str, Any], prompt_key: str) -> list[Message]:
    """A GRPO record's prompt: its `messages` before a closing assistant turn, or the prompt
    column as a user turn."""
    if "messages" in record:
        turns = checked_messages(record["messages"])
        return turns[:-1] if turns and turns[-1]["role"] == "assistant" else turns
    if prompt_key in record:
        return as_messages(record[prompt_key])
    raise ValueError(f"record has neither `messages` nor `{prompt_key}`")


def prompts_within(
    records: list[dict[str, Any]], tokenizer: Tokenizer, prompt_key: str, limit: int
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """The records whose prompt, ready for the assistant's answer, has at most `limit` ids,
    and those ids; a malformed record (`prompt_messages`) is left out too."""
    kept, prompts = [], []
    for record in records:
        try:
            ids = render(tokenizer, prompt_messages(record, prompt_key), generation_prompt=True).ids
        except ValueError:
            continue
        if len(ids) <= limit:
            kept.append(record)
            prompts.append(ids.tolist())
    return kept, prompts


def hh_dialogue(text: str) -> list[Message]:
    """An HH-RLHF dialogue ("\\n\\nHuman: …\\n\\nAssistant: …") as messages."""
    parts = HH_TURN.split(text)[1:]
    roles = {"Human": "user", "Assistant": "assistant"}
    return [
        {"role": roles[who], "content": said.strip()}
        for who, said in zip(parts[::2], parts[1::2], strict=True)
    ]


def preference(record: dict[str, Any]) -> tuple[list[Message], str, str]:
    """A preference record as (prompt messages, chosen answer, rejected answer); ValueError
    for a malformed one."""
    chosen, rejected = text_field(record, "chosen"), text_field(record, "rejected")
    if "prompt" in record:
        return as_messages(record["prompt"]), chosen, rejected
    chosen, rejected = hh_dialogue(chosen), hh_dialogue(rejected)
    if not chosen or chosen[-1]["role"] != "assistant" or chosen[:-1] != rejected[:-1]:
        raise ValueError("HH-RLHF record: the dialogues must share all turns but the last answer")
    return chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]


@dataclass(frozen=True)
class Rows:
    """Arrays with one row per unit a step counts (a packed sequence, or a pair)."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def take(self, index: np.ndarray) -> Rows:
        return Rows({name: array[index] for name, array in self.arrays.items()})

    def micro_batches(self, size: int) -> list[dict[str, torch.Tensor]]:
        """Consecutive slices of `size` rows as tensors. Pairs are cut after the slice's last
        trained position: the right padding beyond it changes nothing and would cost compute."""
        batches = []
        for start in range(0, len(self), size):
            part = {name: array[start : start + size] for name, array in self.arrays.items()}
            if "last" in part:
                length = int(part["last"].max()) + 1
                part |= {
                    name: part[name][..., :length] for name in ("inputs", "targets", "weights")
                }
            batches.append({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in part.items()})
        return batches


def sft_examples(
    records: list[dict[str, Any]], tokenizer: Tokenizer, prompt_key: str, response_key: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per well-formed example, (ids, trained) as `trainer.chat.render` makes them; a
    malformed one (`conversation`, or a role the template lacks) is left out."""
    examples = []
    for record in records:
        try:
            encoded = render(tokenizer, conversation(record, prompt_key, response_key))
        except ValueError:
            continue
        examples.append((encoded.ids, encoded.trained))
    return examples


def within_rows(
    examples: list[tuple[np.ndarray, np.ndarray]], seq_len: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """The examples that keep a trained target once `pack` cuts them to a row of `seq_len`
    positions, and how many of those it cuts."""
    kept = [(ids, trained) for ids, trained in examples if trained[1 : seq_len + 1].any()]
    return kept, sum(len(ids) > seq_len + 1 for ids, _ in kept)


def pack(examples: list[tuple[np.ndarray, np.ndarray]], seq_len: int) -> Rows:
    """Examples, in order, packed greedily into rows of `seq_len` positions.

    An example of n ids gives n-1 (input, target) positions; it goes into the current row if
    it fits, else starts a new one (one longer than a row is cut to it). Each position gets
    its example's document id (the row's padding has -1, which attends only to padding) and a
    weight: 1 where the target is trained on."""
    inputs, targets, weights, documents = [], [], [], []
    row = [[], [], [], []]

    def close_row() -> None:
        pad = seq_len - sum(len(piece) for piece in row[0])
        for out, part, fill in zip(
            (inputs, targets, weights, documents), row, (PAD_ID, PAD_ID, 0, -1), strict=True
        ):
            out.append(np.concatenate([*part, np.full(pad, fill, np.int64)]))
        row[:] = [[], [], [], []]

    used = 0
    for document, (ids, trained) in enumerate(examples):
        ids, trained = ids[: seq_len + 1], trained[: seq_len + 1]
        length = len(ids) - 1
        if used + length > seq_len:
            close_row()
            used = 0
        for part, piece in zip(
            row, (ids[:-1], ids[1:], trained[1:], np.full(length, document)), strict=True
        ):
            part.append(piece.astype(np.int64))
        used += length
    if used:
        close_row()
    shape = (len(inputs), seq_len)
    return Rows(
        {
            "inputs": np.array(inputs, np.int64).reshape(shape),
            "targets": np.array(targets, np.int64).reshape(shape),
            "weights": np.array(weights, np.float32).reshape(shape),
            "documents": np.array(documents, np.int64).reshape(shape),
        }
    )


def _padded(ids: np.ndarray, trained: np.ndarray, seq_len: int) -> tuple[np.ndarray, ...]:
    """One sequence cut to `seq_len` + 1 ids, right-padded: inputs, targets, weights."""
    ids, trained = ids[: seq_len + 1], trained[: seq_len + 1]
    pad = seq_len + 1 - len(ids)
    ids = np.concatenate([ids, np.full(pad, PAD_ID, np.int64)])
    trained = np.concatenate([trained, np.zeros(pad, np.int64)])
    return ids[:-1], ids[1:], trained[1:].astype(np.float32)


def preference_rows(records: list[dict[str, Any]], tokenizer: Tokenizer, seq_len: int) -> Rows:
    """One row per pair: arrays of shape (pairs, 2, seq_len), chosen first, and `last`, the
    position of each sequence's final trained target (its `<|end|>`, where a reward head
    reads). A pair is left out when its answers do not start within `seq_len`, or when it
    cannot be split into a prompt and two answers (5 of HH-RLHF's 2,312 harmless test
    dialogues run two answers together): it has nothing to compare."""
    inputs, targets, weights = [], [], []
    for record in records:
        try:
            prompt, chosen, rejected = preference(record)
        except ValueError:
            continue
        pair = [
            _padded(*_encoded(tokenizer, prompt, answer), seq_len) for answer in (chosen, rejected)
        ]
        if all(p[2].any() for p in pair):
            inputs.append([p[0] for p in pair])
            targets.append([p[1] for p in pair])
            weights.append([p[2] for p in pair])
    shape = (len(inputs), 2, seq_len)
    weights_array = np.array(weights, np.float32).reshape(shape)
    trained_at = np.arange(seq_len) * (weights_array > 0)
    return Rows(
        {
            "inputs": np.array(inputs, np.int64).reshape(shape),
            "targets": np.array(targets, np.int64).reshape(shape),
            "weights": weights_array,
            "last": trained_at.max(-1),
        }
    )


def _encoded(tokenizer: Tokenizer, prompt: list[Message], answer: str):
    encoded = render(tokenizer, [*prompt, {"role": "assistant", "content": answer}])
    return encoded.ids, encoded.trained


@dataclass
class ExampleBatch:
    """One optimizer step's rows for one rank, split into micro-batches, and `count`: the
    units (trained tokens, or pairs) of the whole global batch, over every rank, that the
    loss is divided by."""

    micro: list[dict[str, torch.Tensor]]
    count: float
    state: dict[str, Any]

    def micro_batches(self) -> list[dict[str, torch.Tensor]]:
        return self.micro


class ExampleLoader:
    """Global batches of `per_step` rows from an epoch-shuffled order of examples.

    `epoch_rows(order)` turns the examples in that order into rows (packing them, for SFT);
    `unit` names the array whose sum counts a row's units (None: each row is one)."""

    def __init__(
        self,
        epoch_rows,
        examples: int,
        per_step: int,
        micro_batch_size: int,
        *,
        unit: str | None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        state: dict | None = None,
    ):
        self.epoch_rows, self.examples, self.per_step = epoch_rows, examples, per_step
        self.micro, self.unit = micro_batch_size, unit
        self.rank, self.world, self.seed = rank, world_size, seed
        self.state = dict(state or {"epoch": 0, "row": 0})
        self._rows: tuple[int, Rows] | None = None

    def rows_of(self, epoch: int) -> Rows:
        if self._rows is None or self._rows[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.examples)
            self._rows = (epoch, self.epoch_rows(order))
        return self._rows[1]

    def steps_per_epoch(self) -> int:
        return max(1, len(self.rows_of(0)) // self.per_step)

    def global_rows(self) -> Rows:
        """The next `per_step` rows, continuing into the next epoch when one runs out."""
        parts, needed = [], self.per_step
        while needed:
            rows = self.rows_of(self.state["epoch"])
            start = self.state["row"]
            taken = rows.take(np.arange(start, min(start + needed, len(rows))))
            parts.append(taken)
            needed -= len(taken)
            self.state["row"] += len(taken)
            if self.state["row"] >= len(rows):
                self.state = {"epoch": self.state["epoch"] + 1, "row": 0}
        return Rows({k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].arrays})

    def __iter__(self):
        return self

    def __next__(self) -> ExampleBatch:
        rows = self.global_rows()
        count = float(rows.arrays[self.unit].sum()) if self.unit else float(len(rows))
        per_rank = self.per_step // self.world
        mine = rows.take(np.arange(self.rank * per_rank, (self.rank + 1) * per_rank))
        return ExampleBatch(mine.micro_batches(self.micro), count, dict(self.state))

    def close(self) -> None:
        """Nothing runs in the background; here for the trainer's loader interface."""
