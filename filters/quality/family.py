"""What a rule family is: a set of published rules that judge a batch's `Signals` together.

A family returns, per document, the name of the first of its rules that removes it (null
to keep), in the family's published order, as `family.threshold_key` so a removal names the
setting that decided it, and for a threshold rule what it measured and the threshold it
crossed (`0.62 < 0.8`), which the report shows beside removed samples. A line-level family
(C4) also returns the texts with its lines removed and how many lines each rule removed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from filters.quality.signals import Signals
from filters.quality.words import Words


class FamilyParams(BaseModel):
    """Thresholds of one family: unknown keys and values of the wrong type are errors.
    `null` turns a rule off, as in datatrove."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


@dataclass
class Judgement:
    reasons: np.ndarray
    """Per document: `family.rule` that removes it, or None."""
    details: np.ndarray | None = None
    """Per removed document: the value its rule measured and the threshold it crossed."""
    texts: pa.Array | None = None
    """Rewritten texts (line-level rules); None when the family does not edit."""
    words: Words | None = None
    """The rewritten texts' words, when the family split them."""
    counters: dict[str, int] = field(default_factory=dict)


class Family(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[FamilyParams]]

    def __init__(self, params: FamilyParams) -> None:
        self.params = params

    @abstractmethod
    def judge(self, signals: Signals) -> Judgement: ...

    def first_failed(self, failures: list[tuple[str, Failure | None]], size: int) -> Judgement:
        """The first rule (in order) each document fails, as `family.rule` (None where none),
        with what a threshold rule measured. A rule given as None is switched off."""
        active = [(rule, failed) for rule, failed in failures if failed is not None]
        reasons = np.full(size, None, dtype=object)
        details = np.full(size, None, dtype=object)
        decided = np.zeros(size, bool)
        for rule, failed in active:
            first = np.asarray(failed.failed if isinstance(failed, Crossed) else failed, bool)
            first = first & ~decided
            reasons[first] = f"{self.name}.{rule}"
            if isinstance(failed, Crossed):
                details[first] = [failed.describe(value) for value in failed.measured[first]]
            decided |= first
        return Judgement(reasons, details)


@dataclass(frozen=True)
class Crossed:
    """A threshold rule over a batch: which documents it removes, and the values it compared."""

    failed: np.ndarray
    measured: np.ndarray
    sign: str
    """How a removed document's value relates to the threshold: `<` or `>`."""
    threshold: float

    def describe(self, value: float) -> str:
        return f"{value:.4g} {self.sign} {self.threshold:g}"


Failure = Crossed | np.ndarray
"""A rule's outcome: a threshold crossed, or a plain mask (a lorem ipsum, a blocked domain)."""


def exceeds(values: np.ndarray, threshold: float) -> Crossed:
    values = np.asarray(values, np.float64)
    return Crossed(values > threshold, values, ">", threshold)


def short_of(values: np.ndarray, threshold: float) -> Crossed:
    values = np.asarray(values, np.float64)
    return Crossed(values < threshold, values, "<", threshold)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`numerator / denominator`, inf (or nan for 0/0) where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)


def as_numbers(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False).astype(np.float64)


def below(values: np.ndarray, threshold: float | None) -> Crossed | None:
    """datatrove's `if threshold and value < threshold`: 0 and None switch the rule off."""
    return short_of(values, threshold) if threshold else None


def above(values: np.ndarray, threshold: float | None) -> Crossed | None:
    return exceeds(values, threshold) if threshold else None
