"""Token budgets: parameter counts written as `125M` or `1.3B`, and Chinchilla's rule."""

from __future__ import annotations

import re

TOKENS_PER_PARAMETER = 20
"""Hoffmann et al. 2022: compute-optimal training sees about 20 tokens per parameter."""

_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def parse_count(value: int | str) -> int:
    """`125M` → 125_000_000; plain integers pass through."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"must be > 0, got {value}")
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBT]?)\s*", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a count such as 125M or 1.3B, got {value!r}")
    count = round(float(match[1]) * _SUFFIXES[match[2].upper()])
    if count <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return count


def chinchilla_tokens(parameters: int | str) -> int:
    return TOKENS_PER_PARAMETER * parse_count(parameters)
