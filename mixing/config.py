"""The `mixture` section of a job config: how much of each source the token shards hold."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from mixing.budget import chinchilla_tokens, parse_count
from pipeline.schema import StrictModel


class MixtureConfig(StrictModel):
    """How much of each source the token shards hold.

    `weights` are shares of the token budget (`target_tokens`, or 20 tokens per parameter of
    `chinchilla_params`; without a budget, the largest one that repeats nothing); `epochs`
    give each source's passes directly (unlisted sources: 1). Neither: every source once.
    """

    weights: dict[str, float] | None = None
    """Source → share of the token budget."""
    epochs: dict[str, float] | None = None
    """Source → passes over its documents (fractions sample)."""
    target_tokens: int | None = Field(default=None, gt=0)
    """The token budget `weights` share."""
    chinchilla_params: int | str | None = None
    """Model size as a number or `125M`/`1.3B`; the budget is 20 tokens per parameter."""
    validation: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Fraction of each source's documents held out for OUT/tokens/val/, before up-sampling:
    a seeded draw per document (from its text, so a repeated text falls on one side and the
    same inputs split alike in any folder), and at least one document of each source that
    has two."""
    shard_tokens: int = Field(default=50_000_000, gt=0)
    """Training shards hold about this many tokens each."""
    seed: int = 0
    """Seeds the validation draw and the up-sampling order."""

    @field_validator("weights", "epochs")
    @classmethod
    def _non_negative(cls, values: dict[str, float] | None) -> dict[str, float] | None:
        for source, value in (values or {}).items():
            if value < 0:
                raise ValueError(f"{source}: must be >= 0, got {value}")
        return values

    @field_validator("chinchilla_params")
    @classmethod
    def _parameter_count(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_count(value)
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> MixtureConfig:
        if self.weights is not None and self.epochs is not None:
            raise ValueError("give `weights` or `epochs`, not both")
        if self.target_tokens is not None and self.chinchilla_params is not None:
            raise ValueError("give `target_tokens` or `chinchilla_params`, not both")
        if self.epochs is not None and self.budget() is not None:
            raise ValueError("`epochs` fix the token count; a budget applies with `weights`")
        if self.weights is not None and sum(self.weights.values()) <= 0:
            raise ValueError("weights: at least one must be > 0")
        return self

    def budget(self) -> int | None:
        """The token budget asked for, if any."""
        if self.chinchilla_params is not None:
            return chinchilla_tokens(self.chinchilla_params)
        return self.target_tokens
