"""Where submitted jobs may read and write: under the roots the service was started with.

Every path a config holds (inputs, output, models, lists, references, a tokenizer, a
training run's data and checkpoints) must lie under one of them, so a caller can neither
read the host's files into a report's samples nor write anywhere else. Local paths are
compared after symbolic links are resolved; a URL root (`s3://bucket/team/`) admits the
URLs that start with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.config import JobConfig
from pipeline.schema import ConfigError, paths_in
from trainer.config import TrainConfig


class AllowedRoots:
    def __init__(self, roots: list[str]) -> None:
        if not roots:
            raise ConfigError("give at least one --allow-root: where jobs may read and write")
        self.urls = [root.rstrip("/") + "/" for root in roots if "://" in root]
        self.folders = [Path(os.path.realpath(root)) for root in roots if "://" not in root]

    def problem(self, path: str) -> str | None:
        """Why `path` is refused, or None."""
        if "://" in path:
            admitted = any(path.startswith(root) for root in self.urls)
        elif not os.path.isabs(path):
            return f"{path} is not an absolute path"
        else:
            real = Path(os.path.realpath(path))
            admitted = any(real.is_relative_to(folder) for folder in self.folders)
        return None if admitted else f"{path} is outside the allowed roots"

    def check(self, config: JobConfig | TrainConfig) -> None:
        """ConfigError naming each path of `config` that is refused, by its key."""
        problems = [
            f"{key}: {problem}"
            for key, path in _paths(config)
            if (problem := self.problem(path)) is not None
        ]
        if problems:
            raise ConfigError("\n".join(problems))


def _paths(config: JobConfig | TrainConfig) -> Iterator[tuple[str, str]]:
    """The paths a config holds, keyed as the config names them (a stage by its name)."""
    if isinstance(config, TrainConfig):
        yield "output", config.output
        for index, run in enumerate(config.data.runs):
            yield f"data.runs.{index}.path", run.path
        if config.checkpoint.folder is not None:
            yield "checkpoint.folder", config.checkpoint.folder
        return
    for name in JobConfig.model_fields:
        if name != "stages":
            yield from paths_in(getattr(config, name), name)
    for stage in config.stages:
        yield from paths_in(stage.params, f"stages.{stage.name}")
