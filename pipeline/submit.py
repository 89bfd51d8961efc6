"""Running a config as a Ray Job on a cluster, and following the jobs (Ray's Jobs API).

A config is validated here first, so a bad one costs no cluster time. The job carries the
config as validated (a pipeline config's paths made absolute), this checkout's packages
(`pipeline.cluster.shipped_code`) and its git SHA for the run's manifest; its entrypoint is
`python -m pipeline.cli run` (or `train`) on that config, which joins the cluster through
`RAY_ADDRESS`. The address is the cluster's dashboard (`http://HEAD:8265`): `--address`,
else `RAY_API_SERVER_ADDRESS` or `RAY_ADDRESS` as Ray reads them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from ray.job_submission import JobSubmissionClient

from pipeline.cluster import TOKEN_HELP, shipped_code
from pipeline.config import validate_config
from pipeline.launch import load_train_config, resolved_text
from pipeline.manifest import source_git_sha
from pipeline.schema import ConfigError, read_config
from trainer.config import POSTTRAIN_KINDS

CONFIG_NAME = "tokenmill-job.yaml"


def job_client(address: str | None) -> JobSubmissionClient:
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "RAY_API_SERVER_ADDRESS / RAY_ADDRESS"
        message = f"--address {where}: no Ray Jobs API there ({err}); {TOKEN_HELP}"
        raise ConfigError(message) from None


def config_kind(data: dict[str, Any]) -> str:
    """`run` for a pipeline job config, `train` for a training config, its `kind` (sft,
    reward, dpo) for a post-training one: the command that runs it."""
    if "inputs" in data:
        return "run"
    if data.get("kind") in POSTTRAIN_KINDS:
        return data["kind"]
    if "data" in data and "model" in data:
        return "train"
    raise ConfigError(
        "neither a pipeline config (`inputs:`) nor a training one (`data:`, `model:`)"
    )


def submit(
    path: str, overrides: list[str], output: str | None, address: str | None, nproc: int = 1
) -> str:
    """Validate the config at `path` and submit it; the job's submission id. A training
    job runs `nproc` ranks on Ray Train."""
    data = read_config(path, overrides, output)
    kind = config_kind(data)
    if kind == "run":
        text = yaml.safe_dump(validate_config(data, origin=str(path)).to_dict(), sort_keys=False)
        entrypoint = f"python -m pipeline.cli run {CONFIG_NAME}"
    else:
        posttrain = kind if kind in POSTTRAIN_KINDS else None
        text = resolved_text(load_train_config(path, overrides, output, nproc, posttrain))
        entrypoint = f"python -m pipeline.cli {kind} {CONFIG_NAME} --nproc {nproc}"
    client = job_client(address)
    with tempfile.TemporaryDirectory(prefix="tokenmill-job-") as folder:
        (Path(folder) / CONFIG_NAME).write_text(text)
        runtime_env = {
            **shipped_code(),
            "working_dir": folder,  # uploaded by submit_job
            "env_vars": {"TOKENMILL_GIT_SHA": source_git_sha() or ""},
        }
        return client.submit_job(
            entrypoint=entrypoint,
            runtime_env=runtime_env,
            metadata={"tokenmill": kind, "config": str(Path(path).resolve())},
        )
