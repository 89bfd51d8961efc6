"""Where a run's mixture falls far from what was asked of a source: documents are drawn
whole (mixing.mixture), so a part of a few documents, or of long ones, cannot be met
closely, and the run says so rather than leave it to the table's epochs."""

from __future__ import annotations

from typing import Any

NOTED_MISS = 0.1
"""A source whose training tokens miss its asked tokens by more than this share of them."""


def mixture_misses(tokens: dict[str, Any]) -> list[str]:
    """One line per source of the report's `tokens` whose training tokens miss its part."""
    return [_miss(row) for row in tokens["mixture"] if _missed(row)]


def _asked(row: dict[str, Any]) -> float:
    # Reports written before `requested_tokens` have only the rounded epochs.
    return row.get("requested_tokens", row["requested_epochs"] * row["available_tokens"])


def _missed(row: dict[str, Any]) -> bool:
    return abs(row["tokens"] - _asked(row)) > NOTED_MISS * _asked(row)


def _miss(row: dict[str, Any]) -> str:
    asked = _asked(row)
    per_document = row["available_tokens"] / row["available_documents"]
    return (
        f"mixture: {row['source']}: {row['tokens']:,} training tokens where {asked:,.0f} were "
        f"asked ({row['tokens'] / asked - 1:+.0%}): documents are drawn whole, and its part is "
        f"{asked / per_document:,.1f} of its documents on average (its "
        f"{row['available_documents']:,} hold {row['available_tokens']:,} tokens); a larger "
        "part (mixture.target_tokens, weights or epochs) comes closer"
    )
