"""Which command runs a config, told from its keys: `submit`, `validate` and the service
validate a config by its kind, and a command given another kind's config says in one line
which command runs it, rather than listing the keys it does not know."""

from __future__ import annotations

from typing import Any

from pipeline.schema import ConfigError
from trainer.config import POSTTRAIN_KINDS

KINDS = {
    "pipeline": ("run", "a pipeline config (`inputs:`)"),
    "ablation": ("ablate", "an ablation config (`variants:`)"),
    "train": ("train", "a pre-training config (`data.runs:`)"),
    **{kind: (kind, f"a post-training config (`kind: {kind}`)") for kind in POSTTRAIN_KINDS},
}
"""Each kind: the command that runs it, and how a config shows it is one."""


def config_kind(data: dict[str, Any], origin: str) -> str:
    """`pipeline`, `ablation`, `train` or a post-training config's `kind` (`sft`, `reward`,
    `dpo`, `grpo`); a config that shows none of them is a config error."""
    kind = told_kind(data)
    if kind is None:
        raise ConfigError(
            f"{origin}: not a config any command runs: a pipeline config has `inputs:`, an "
            f"ablation `variants:`, a pre-training config `data.runs:`, a post-training one "
            f"`kind:` ({', '.join(POSTTRAIN_KINDS)})"
        )
    return kind


def told_kind(data: dict[str, Any]) -> str | None:
    """The kind `data` shows, if it shows one (a post-training config may leave its `kind`
    to the command that runs it)."""
    if "inputs" in data:
        return "pipeline"
    if "variants" in data:
        return "ablation"
    if data.get("kind") in POSTTRAIN_KINDS:
        return data["kind"]
    if isinstance(data.get("data"), dict) and "runs" in data["data"]:
        return "train"
    return None


def refuse_another_kind(data: dict[str, Any], origin: str, command: str) -> None:
    """A config error where `data` is a config that another command than `command` runs."""
    kind = told_kind(data)
    if kind is not None and KINDS[kind][0] != command:
        runs_it, shown = KINDS[kind]
        raise ConfigError(f"{origin}: {shown}, which `tokenmill {runs_it}` runs")
