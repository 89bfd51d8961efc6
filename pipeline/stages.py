"""The registry of stages by their config name, in the order DESIGN.md lists them."""

from __future__ import annotations

from filters.language import Language
from pipeline.extract import Extract
from pipeline.stage import Stage

STAGE_TYPES: dict[str, type[Stage]] = {stage.name: stage for stage in (Extract, Language)}
