"""How `tokenmill train` starts the trainer: in this process, under torchrun, or on Ray Train.

The config is read here with the job config's `--set` rules, validated, and written to
`RUN/config.yaml`; every rank then runs `trainer.train` on that resolved file, so the
trainer itself needs neither Ray nor the pipeline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.schema import ConfigError, read_config
from trainer.config import TrainConfig, TrainConfigError, validate_train_config
from trainer.errors import TrainingError


def load_train_config(path: str, overrides: list[str], output: str | None = None) -> TrainConfig:
    data = read_config(path, overrides, output)
    try:
        return validate_train_config(data, origin=str(path))
    except TrainConfigError as err:
        raise ConfigError(str(err)) from None


def write_resolved(config: TrainConfig) -> Path:
    run = Path(config.output)
    run.mkdir(parents=True, exist_ok=True)
    resolved = run / "config.yaml"
    resolved.write_text(yaml.safe_dump(config.to_dict()))
    return resolved


def launch(config: TrainConfig, nproc: int, address: str | None, resume: str) -> dict:
    """Train with `nproc` ranks; the last logged metrics of rank 0 (in-process runs only)."""
    resolved = write_resolved(config)
    if address:
        return _ray_train(resolved, nproc, address, resume)
    if nproc == 1:
        from trainer.train import train

        return train(config, resume=resume)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "trainer.train",
        str(resolved),
        "--resume",
        resume,
    ]
    returncode = subprocess.run(command, check=False).returncode
    if returncode:
        raise TrainingError(
            f"torchrun exited with status {returncode}; the ranks' errors are above"
        )
    return {}


def _ray_train(resolved: Path, nproc: int, address: str, resume: str) -> dict:
    """One Ray Train worker per rank; Ray Train sets up the torch process group."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    def per_worker(settings: dict) -> None:
        from trainer.config import read_train_config
        from trainer.train import train

        train(read_train_config(settings["config"]), resume=settings["resume"])

    ray.init(address=address)
    use_gpu = bool(ray.cluster_resources().get("GPU"))
    trainer = TorchTrainer(
        per_worker,
        train_loop_config={"config": str(resolved.resolve()), "resume": resume},
        scaling_config=ScalingConfig(num_workers=nproc, use_gpu=use_gpu),
        run_config=RunConfig(storage_path=str((resolved.parent / "ray").resolve())),
    )
    trainer.fit()
    return {}
