"""After OUT/documents is final, build OUT/tokenizer/ and OUT/tokens/ by the tokens phases:
`tokenizer`, `encode`, `mixture`, `shuffle`. Each is recorded with the digest of what decides
it, so a rerun skips finished ones and a changed config redoes only what it changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from pipeline.config import JobConfig
from pipeline.faults import kill_point
from pipeline.phase import PhaseContext
from pipeline.phases.encode import EncodePhase
from pipeline.phases.mixture import MixturePhase
from pipeline.phases.shuffle import ShufflePhase
from pipeline.phases.tokenizer import TokenizerPhase, read_tokenizer
from pipeline.state import RunState
from pipeline.stats import StageStats
from pipeline.tasks import run_tasks


@dataclass
class TokensResult:
    funnel: StageStats
    """The `mixture` entry of the run's funnel."""
    manifest: dict[str, Any]
    """OUT/tokens/manifest.json."""


def build_tokens(
    config: JobConfig,
    state: RunState,
    documents: dict[str, dict],
    workers: Callable[[], int],
    console: Console,
) -> TokensResult | None:
    """Run the phases that are not finished; None when the config asks for no tokens.

    `documents`: the run's documents shards (name in OUT/documents/ → what the run recorded
    writing it: each is checked against it before it is read). `workers()` starts Ray on
    first call (only a phase with work to do calls it) and says how many tasks to run at once.
    """
    if not config.makes_tokens:
        return None
    context = PhaseContext(state.output, console, workers, run_tasks)
    tokenizer_phase = TokenizerPhase(config.tokenizer_config(), documents, state.digest)
    tokenizer = state.run_phase(tokenizer_phase, context)
    if config.mixture is None:
        return None
    encode = EncodePhase(
        config.mixture,
        documents,
        tokenizer,
        read_tokenizer(state.output),
        state.digest,
        config.execution.batch_size,
    )
    encoded = state.run_phase(encode, context)
    kill_point("driver.tokens")
    mixture = MixturePhase(config.mixture, encoded, encode.digest())
    plans = state.run_phase(mixture, context).sources
    shuffle = ShufflePhase(config, encoded, plans, tokenizer, mixture.digest())
    shuffled = state.run_phase(shuffle, context)
    return TokensResult(
        funnel=StageStats.from_json(shuffled.funnel),
        manifest=state.output.read_json("tokens", "manifest.json"),
    )
