"""What each pre-training step draws from: `data.runs` by weight and, in continued
pre-training (`data.replay`), a fixed share of every step from an earlier mixture, so the
model keeps seeing what it learned first (replay, as in Ibrahim et al. 2024, "Simple and
Scalable Strategies to Continually Pre-train Large Language Models").

A checkpoint's meta.json records the mixture its run drew from (`mixture`), so "replay what
the starting model was trained on" needs only the fraction.
"""

from __future__ import annotations

from pathlib import Path

from trainer.checkpoint import read_meta
from trainer.config import DataConfig, RunInput
from trainer.errors import TrainingError
from trainer.storage import is_url


class MixtureError(TrainingError):
    """`data.replay` names no earlier runs, and `init_from` records none."""


def training_mixture(data: DataConfig, init_from: str | None) -> list[RunInput]:
    """The runs a step draws from, with weights that sum to 1 when there is a replay."""
    if data.replay is None:
        return list(data.runs)
    fraction = data.replay.fraction
    earlier = data.replay.runs or recorded_mixture(init_from)  # the config needs one of them
    return [*_scaled(data.runs, 1 - fraction), *_scaled(earlier, fraction)]


def recorded_mixture(init_from: str) -> list[RunInput]:
    """The mixture `init_from`'s checkpoint was trained on, from its meta.json."""
    try:
        recorded = read_meta(init_from).get("mixture")
    except FileNotFoundError:
        recorded = None
    if not recorded:
        raise MixtureError(
            f"data.replay.runs: init_from {init_from} records no mixture (not a tokenmill "
            "pre-training checkpoint, or one written before checkpoints recorded it); list "
            "the earlier runs there"
        )
    return [RunInput(entry["path"], entry["weight"]) for entry in recorded]


def recordable(runs: list[RunInput]) -> list[dict]:
    """The mixture as meta.json records it: local paths absolute, so any run can replay it."""
    return [
        {"path": run.path if is_url(run.path) else str(Path(run.path).resolve()), "weight": w}
        for run, w in zip(runs, _normalized(runs), strict=True)
    ]


def _normalized(runs: list[RunInput]) -> list[float]:
    total = sum(run.weight for run in runs)
    return [run.weight / total for run in runs]


def _scaled(runs: list[RunInput], share: float) -> list[RunInput]:
    return [
        RunInput(run.path, share * weight)
        for run, weight in zip(runs, _normalized(runs), strict=True)
    ]
