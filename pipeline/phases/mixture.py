"""The `mixture` phase: the plan of how often each document is used, from the encode
phase's counts (mixing.mixture), in the driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from mixing.config import MixtureConfig
from mixing.mixture import SourcePlan, plan_mixture
from pipeline.phase import PhaseContext, PhaseSummary, digest_of
from pipeline.phases.encode import EncodeSummary


@dataclass
class MixtureSummary(PhaseSummary):
    sources: list[SourcePlan]

    def to_json(self) -> dict[str, Any]:
        return {"sources": [plan.to_json() for plan in self.sources]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls([SourcePlan.from_json(plan) for plan in data["sources"]])


@dataclass
class MixturePhase:
    mixture: MixtureConfig
    encoded: EncodeSummary
    encode_digest: str
    name = "mixture"
    Summary = MixtureSummary

    def digest(self) -> str:
        return digest_of(self.encode_digest, self.mixture.model_dump(mode="json"))

    def run(self, context: PhaseContext) -> MixtureSummary:
        return MixtureSummary(plan_mixture(self.mixture, self.encoded.source_counts()))
