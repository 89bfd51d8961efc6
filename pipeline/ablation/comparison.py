"""What an ablation found: each variant's data and its models' held-out bits per byte,
against the baseline's, with the seeds' spread as the noise.

Bits per byte is the summed loss over the held-out text (nats), divided by ln 2 and by the
text's UTF-8 bytes (The Pile's measure): the tokenizer drops out of it. The loss per token is
kept beside it (one tokenizer serves every variant, so it compares too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean
from typing import TYPE_CHECKING

from pipeline.ablation.contamination import Contamination
from pipeline.ablation.held_out import HeldOutSource
from pipeline.schema import assignments

if TYPE_CHECKING:
    from pipeline.ablation.config import AblationConfig


@dataclass
class VariantResult:
    """What one variant's runs produced, for the comparison."""

    report: dict
    """The pipeline run's report.json."""
    trained_tokens: int
    """Tokens each of its training runs trained on (steps × global batch)."""
    nats: dict[int, dict[int, dict[str, float]]]
    """Seed → step → held-out source → summed loss of that seed's checkpoint of that step
    (those the training kept, the final one last)."""
    contamination: Contamination
    """The held-out documents its training shards quote."""


def compare(
    ablation: AblationConfig, results: dict[str, VariantResult], held_out: list[HeldOutSource]
) -> dict:
    """OUT/report/comparison.json's content: the held-out text, and per variant its data, each
    seed's scores, their mean and spread, and the difference from the baseline."""
    text_bytes = sum(source.text_bytes for source in held_out)
    tokens = sum(source.tokens for source in held_out)
    variants = []
    for name, result in results.items():
        runs = []
        for seed, by_step in result.nats.items():
            nats = by_step[max(by_step)]
            runs.append(
                {
                    "seed": seed,
                    "bits_per_byte": sum(nats.values()) / math.log(2) / text_bytes,
                    "loss_per_token": sum(nats.values()) / tokens,
                    "bits_per_byte_by_source": {
                        source.name: nats[source.name] / math.log(2) / source.text_bytes
                        for source in held_out
                    },
                    "bits_per_byte_by_step": {
                        str(step): sum(at_step.values()) / math.log(2) / text_bytes
                        for step, at_step in sorted(by_step.items())
                    },
                }
            )
        scores = [run["bits_per_byte"] for run in runs]
        unique = unique_tokens(result.report)
        variants.append(
            {
                "name": name,
                "changes": changes(ablation, name),
                "documents": result.report["documents"],
                "train_tokens": result.report["tokens"]["train"]["tokens"],
                "unique_tokens": unique,
                "epochs": result.trained_tokens / unique,
                "bits_per_byte": mean(scores),
                "bits_per_byte_by_source": {
                    source.name: mean(run["bits_per_byte_by_source"][source.name] for run in runs)
                    for source in held_out
                },
                "bits_per_byte_by_step": {
                    step: mean(run["bits_per_byte_by_step"][step] for run in runs)
                    for step in runs[0]["bits_per_byte_by_step"]
                    if all(step in run["bits_per_byte_by_step"] for run in runs)
                },
                "spread": max(scores) - min(scores),
                "contamination": result.contamination.as_json(),
                "runs": runs,
            }
        )
    base = variants[0]
    for variant in variants:
        variant["delta"] = variant["bits_per_byte"] - base["bits_per_byte"]
        variant["verdict"] = verdict(variant, base, len(ablation.seeds))
    return {
        "name": ablation.name,
        "baseline": base["name"],
        "seeds": ablation.seeds,
        "contamination_ngram": ablation.contamination_ngram,
        "held_out": [
            {
                "source": source.name,
                "documents": len(source.documents),
                "bytes": source.text_bytes,
                "tokens": source.tokens,
                "unread": dict(source.unread),
            }
            for source in held_out
        ],
        "variants": variants,
    }


def unique_tokens(report: dict) -> int:
    """Distinct training tokens in a run's shards: each source's, once (the mixture's
    up-sampling repeats them, its down-sampling leaves some out)."""
    return sum(min(row["available_tokens"], row["tokens"]) for row in report["tokens"]["mixture"])


def changes(ablation: AblationConfig, name: str) -> str:
    """The variant against the pipeline config, in a line: `without quality; stages.x=1`."""
    variant = ablation.variants[name]
    parts = [f"without {', '.join(variant.without)}"] if variant.without else []
    parts += assignments(variant.set)
    return "; ".join(parts) or "as configured"


def verdict(variant: dict, base: dict, seeds: int) -> str:
    """`better` or `worse` than the baseline where the difference is larger than either's
    spread over the seeds; `within noise` where it is not; nothing with one seed (no spread)."""
    if variant is base:
        return "baseline"
    if seeds < 2:
        return "one seed"
    noise = max(variant["spread"], base["spread"])
    if abs(variant["delta"]) <= noise:
        return "within noise"
    return "better" if variant["delta"] < 0 else "worse"
