"""Running a config as a Ray Job on a cluster, and following the jobs (Ray's Jobs API).

A config is validated here first, so a bad one costs no cluster time. The job carries the
config as validated (a pipeline config's paths made absolute), this checkout's packages
(`pipeline.cluster.shipped_code`) and its git SHA for the run's manifest; its entrypoint is
`python -m pipeline.cli run` (or `train`, `ablate`) on that config (an ablation's with the
pipeline and training configs it names inline), which joins the cluster through
`RAY_ADDRESS`. The address is the cluster's dashboard (`http://HEAD:8265`): `--address`,
else `RAY_API_SERVER_ADDRESS` or `RAY_ADDRESS` as Ray reads them.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ray.exceptions import AuthenticationError
from ray.job_submission import JobSubmissionClient

from pipeline.ablation.config import AblationConfig, resolved, validate_ablation
from pipeline.cluster import TOKEN_HELP, refuse_silent_address, shipped_code
from pipeline.config import JobConfig, validate_config
from pipeline.config_kind import config_kind
from pipeline.launch import resolved_text, train_config
from pipeline.manifest import source_git_sha
from pipeline.schema import ConfigError, PathCheck, read_config
from trainer.config import TrainConfig

CONFIG_NAME = "tokenmill-job.yaml"
ENTRYPOINT = ("python", "-m", "pipeline.cli")


def job_client(address: str | None) -> JobSubmissionClient:
    if address:
        refuse_silent_address(address)
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        message = f"no Ray Jobs API there ({err})"
    except AuthenticationError as err:  # its text runs to paragraphs: the first line says it
        message = f"the Ray Jobs API refused us ({str(err).splitlines()[0]})"
    where = address or "RAY_API_SERVER_ADDRESS / RAY_ADDRESS"
    raise ConfigError(f"--address {where}: {message}; {TOKEN_HELP}") from None


@dataclass(frozen=True)
class Job:
    """A config validated for a Ray Job: what it is, its resolved text, and the command
    (an argument list) that runs it on the cluster."""

    kind: str
    """`pipeline`, `train`, a post-training config's kind (`sft`, `reward`, `dpo`, `grpo`) or
    `ablation`: the command that runs it."""
    config: JobConfig | TrainConfig | AblationConfig
    text: str
    entrypoint: list[str]


def prepare(
    data: dict[str, Any], origin: str, nproc: int = 1, path_check: PathCheck | None = None
) -> Job:
    """Validate a config read into a mapping; a training job runs `nproc` ranks on Ray
    Train. `path_check` may refuse any path the config holds."""
    kind = config_kind(data, origin)
    if kind == "ablation":
        ablation = validate_ablation(data, origin, nproc, path_check)
        text = yaml.safe_dump(resolved(ablation), sort_keys=False)
        entrypoint = [*ENTRYPOINT, "ablate", CONFIG_NAME, "--nproc", str(nproc)]
        return Job(kind, ablation, text, entrypoint)
    if kind == "pipeline":
        config = validate_config(data, origin, path_check)
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        return Job("pipeline", config, text, [*ENTRYPOINT, "run", CONFIG_NAME])
    config = train_config(data, origin, nproc, path_check)
    entrypoint = [*ENTRYPOINT, kind, CONFIG_NAME, "--nproc", str(nproc)]
    return Job(kind, config, resolved_text(config), entrypoint)


def submit_job(
    job: Job,
    client: JobSubmissionClient,
    metadata: dict[str, str],
    submission_id: str | None = None,
) -> str:
    """Submit a prepared job with this checkout's code; its submission id. Ray takes the
    entrypoint as one command line: it is the argument list, each argument quoted."""
    with tempfile.TemporaryDirectory(prefix="tokenmill-job-") as folder:
        (Path(folder) / CONFIG_NAME).write_text(job.text, encoding="utf-8")
        runtime_env = {
            **shipped_code(),
            "working_dir": folder,  # uploaded by submit_job
            "env_vars": {"TOKENMILL_GIT_SHA": source_git_sha() or ""},
        }
        return client.submit_job(
            entrypoint=shlex.join(job.entrypoint),
            runtime_env=runtime_env,
            metadata={"tokenmill": job.kind, **metadata},
            submission_id=submission_id,
        )


def submit(
    path: str, overrides: list[str], output: str | None, address: str | None, nproc: int = 1
) -> str:
    """Validate the config at `path` and submit it; the job's submission id. A training
    job runs `nproc` ranks on Ray Train."""
    job = prepare(read_config(path, overrides, output), str(path), nproc)
    return submit_job(job, job_client(address), {"config": str(Path(path).resolve())})
