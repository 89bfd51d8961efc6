"""Verifiers: the rewards of GRPO's completions, checked against the record they answer.

A verifier is a function `(completion, record) -> float` in [0, 1]: the completion's text (the
assistant's answer, without its `<|end|>`) and the whole data record its prompt came from. The
config's `grpo.verifier` names a built-in one (`gsm8k`) or a user's by dotted path,
`package.module:function` or `package.module.function`.
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from trainer.errors import TrainingError

Verifier = Callable[[str, dict[str, Any]], float]

FINAL_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")
"""GSM8K's answer format: the last line is `#### <number>` (commas allowed, as in 1,000)."""


def final_number(text: str) -> float | None:
    """The number of a text's closing `#### <number>`, or None when it does not end so."""
    found = FINAL_ANSWER.search(text.strip())
    return float(found.group(1).replace(",", "")) if found else None


def gsm8k(completion: str, record: dict[str, Any]) -> float:
    """1 when the completion ends in `#### N` (the format GSM8K's answers teach) and N is the
    record's `answer`'s final number; 0 otherwise, a right number in another format too, and
    for a record whose `answer` is missing or has no final number."""
    reference = record.get("answer")
    expected = final_number(reference) if isinstance(reference, str) else None
    return float(expected is not None and final_number(completion) == expected)


BUILT_IN: dict[str, Verifier] = {"gsm8k": gsm8k}


def resolve_verifier(name: str) -> Verifier:
    """A built-in verifier by name, or a function by dotted path; ValueError saying why not.
    A module in the folder the command runs in is found too, as uvicorn finds `main:app`
    (the `tokenmill` script's path starts at its own folder, not there)."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # last: it never hides an installed module
    module, sep, attribute = name.partition(":") if ":" in name else name.rpartition(".")
    if not sep or not module or not attribute:
        raise ValueError(
            f"{name!r} is neither a built-in verifier ({', '.join(BUILT_IN)}) nor module:function"
        )
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {name!r}: {err}") from None
    if not callable(found):
        raise ValueError(f"{name!r} is not a function")
    return found


def reward(verifier: Verifier, name: str, completion: str, record: dict[str, Any]) -> float:
    """What `verifier` (the config's `name` for it) gives one completion: a finite number, or a
    one-line TrainingError naming the verifier where it raises or returns anything else."""
    try:
        value = verifier(completion, record)
    except Exception as err:  # the user's code: say whose it is, on one line
        keys = ", ".join(map(str, record))
        raise TrainingError(
            f"grpo.verifier {name}: {type(err).__name__}: {err} (the record's keys: {keys})"
        ) from err
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TrainingError(
            f"grpo.verifier {name}: returned {value!r}; a verifier returns a finite number"
        )
    return float(value)
