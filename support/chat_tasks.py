"""Small post-training tasks with a learnable rule, and a tokenizer for them, for trainer tests.

The rule is parity: "Is 347 even or odd?" is answered "347 is odd."; a preference pair has the
right answer chosen and the wrong one rejected. It depends on the last digit only, so a tiny
model learns it from a few hundred numbers and is judged on numbers it never saw.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tokenizer.bpe import train_bpe


def parity_question(number: int) -> str:
    return f"Is {number} even or odd?"


def parity_answer(number: int, right: bool = True) -> str:
    even = (number % 2 == 0) == right
    return f"{number} is {'even' if even else 'odd'}."


def split_numbers(count: int, held_out: int, seed: int = 0) -> tuple[list[int], list[int]]:
    numbers = random.Random(seed).sample(range(1000), count + held_out)
    return numbers[:count], numbers[count:]


def sft_records(numbers: list[int]) -> list[dict]:
    return [{"prompt": parity_question(n), "response": parity_answer(n)} for n in numbers]


def preference_records(numbers: list[int]) -> list[dict]:
    return [
        {
            "prompt": parity_question(n),
            "chosen": parity_answer(n),
            "rejected": parity_answer(n, right=False),
        }
        for n in numbers
    ]


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def write_tokenizer(path: Path, vocab_size: int = 300) -> Path:
    """A byte-level BPE with the special ids, trained on the task's sentences about single
    digits, so that it learns no merges of digits: every number is its digits, and parity
    is visible in the last one."""
    texts = [
        f"{parity_question(n)} {parity_answer(n)} {parity_answer(n, False)}" for n in range(10)
    ]
    train_bpe(texts * 50, vocab_size).save(str(path))
    return path
