"""OUT/manifest.json: where a run came from (code, packages, config, inputs, times)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pipeline
from pipeline.config import JobConfig
from pipeline.shard import ShardResult

PACKAGES = (
    "ray",
    "pyarrow",
    "pydantic",
    "fsspec",
    "fastwarc",
    "resiliparse",
    "selectolax",
    "trafilatura",
    "numpy",
    "tokenizers",
)


def build_manifest(
    config: JobConfig, results: list[ShardResult], started: datetime, finished: datetime
) -> dict[str, Any]:
    return {
        "tokenmill_version": pipeline.__version__,
        "git_sha": source_git_sha(),
        "packages": {name: _version(name) for name in PACKAGES},
        "config": config.to_dict(),
        "config_sha256": config.digest(),
        "inputs": [
            {"path": path, "shard": r.shard, "source": r.shard.rsplit("-", 1)[0], **info}
            for r in results
            for path, info in r.inputs.items()
        ],
        "started": started.isoformat(),
        "finished": finished.isoformat(),
    }


def utc_now() -> datetime:
    return datetime.now(UTC)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def source_git_sha() -> str | None:
    """The commit of the code that runs: what `tokenmill submit` recorded where it was sent
    from (TOKENMILL_GIT_SHA), else the checkout's, if it is one."""
    if sha := os.environ.get("TOKENMILL_GIT_SHA"):
        return sha
    source = Path(pipeline.__file__).resolve().parent.parent
    try:
        completed = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None
