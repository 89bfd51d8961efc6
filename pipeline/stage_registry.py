"""The registry of stages by their config name, in the order DESIGN.md lists them."""

from __future__ import annotations

from dedup.stage import Dedup
from filters.classifier import Classifier
from filters.consent.stage import Consent
from filters.decontaminate import Decontaminate
from filters.language import Language
from filters.perplexity import Perplexity
from filters.pii import Pii
from filters.quality.stage import Quality
from pipeline.extract import Extract
from pipeline.stage import GlobalStage, Stage

STAGE_TYPES: dict[str, type[Stage | GlobalStage]] = {
    stage.name: stage
    for stage in (
        Extract,
        Consent,
        Language,
        Quality,
        Perplexity,
        Classifier,
        Dedup,
        Pii,
        Decontaminate,
    )
}
