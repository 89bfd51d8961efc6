"""Training ranks on Ray Train: one worker per rank, Ray Train setting up the torch process
group. Each run is fitted from a Ray task of its own, `tokenmill train --address`'s one and
an ablation's several at a time (one process waits for one fit). Ctrl-C cancels the task,
which takes Ray Train's controller and ranks with it: Ray Train's own Ctrl-C handler asks the
controller to stop, and waited for ever while it waited for resources the cluster lacks."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import ray
import yaml

from pipeline.schema import ConfigError
from trainer.config import TrainConfigError, validate_train_config
from trainer.errors import TrainingError

Key = TypeVar("Key")

RAY_TRAIN_PRINT_PATCH = "RAY_TRAIN_ENABLE_PRINT_PATCH"
"""Ray Train's switch for its print patch, on by default."""

RAY_TRAIN_ERROR_LOGGER = "ray.train.v2._internal.util"
"""The logger with which a Ray Train worker prints the traceback of what its training
function raised (`Error in training function: …`)."""


@dataclass(frozen=True)
class RayTrainRun:
    """One training run as Ray Train runs it. The ranks get the resolved config's text, as
    they may run on nodes that do not see the run's folder."""

    config: str
    """The resolved config (`RUN/config.yaml`'s text)."""
    origin: str
    """Where it was written, for messages."""
    nproc: int
    resume: str
    module: str
    """The module whose `train` runs the config on a rank."""
    storage: str
    """Ray Train's own folder."""

    def fit(self) -> None:
        """Ray Train's run of the ranks; a rank's error as one line."""
        from ray.train import LoggingConfig, RunConfig, ScalingConfig, WorkerGroupError
        from ray.train.torch import TorchTrainer

        use_gpu = rank_device() == "GPU"
        # Ray Train's print patch (which the calling process's environment passes on to the
        # ranks) sends each line a rank prints to the worker's stdout and to its logger, and
        # Ray forwards both: every line came twice.
        os.environ.setdefault(RAY_TRAIN_PRINT_PATCH, "0")
        trainer = TorchTrainer(
            train_on_rank,
            train_loop_config={
                "config": self.config,
                "origin": self.origin,
                "resume": self.resume,
                "module": self.module,
            },
            scaling_config=ScalingConfig(num_workers=self.nproc, use_gpu=use_gpu),
            run_config=RunConfig(
                storage_path=self.storage,
                # Its notes (resources requested, the worker group started) and, at a rank's
                # error, its failure policy's page of that rank's traceback; warnings stay.
                logging_config=LoggingConfig(log_level="WARNING"),
            ),
        )
        try:
            trainer.fit()
        except WorkerGroupError as err:  # Ray's report of each rank's traceback
            failure = err.worker_failures[min(err.worker_failures)]
            if isinstance(failure, TrainConfigError):
                raise ConfigError(str(failure)) from None
            if isinstance(failure, TrainingError | OSError):  # one line, as torchrun's ranks say
                raise failure from None
            raise


def train_on_rank(settings: dict) -> None:
    """What each Ray Train worker runs: the trainer on the resolved config."""
    config = validate_train_config(yaml.safe_load(settings["config"]), settings["origin"])
    try:
        importlib.import_module(settings["module"]).train(config, resume=settings["resume"])
    except (TrainingError, TrainConfigError, OSError):
        without_ray_trains_traceback()  # the driver says it in one line
        raise


def without_ray_trains_traceback() -> None:
    """Leave out the traceback a Ray Train worker prints of the error its training function
    is raising: one the driver says in one line, as torchrun's ranks do. Should a later Ray
    print it from another logger, it is printed as before."""
    logger = logging.getLogger(RAY_TRAIN_ERROR_LOGGER)
    logger.addFilter(lambda record: not record.getMessage().startswith("Error in training"))


def trainings_the_cluster_holds(nproc: int) -> int:
    """How many runs of `nproc` ranks the cluster holds at once; at least one."""
    return max(1, _rank_resources()[1] // nproc)


def short_of_ranks(nproc: int) -> str | None:
    """What to tell the user where the cluster has fewer GPUs (CPUs, without GPUs) than
    `nproc` ranks take: Ray Train waits for them (nodes an autoscaler adds), with a
    traceback a minute."""
    kind, count = _rank_resources()
    if count >= nproc:
        return None
    return (
        f"--nproc {nproc}: the cluster has {count} {kind}s, and each rank takes one; Ray Train "
        f"waits until it has {nproc} (nodes an autoscaler adds), saying so each minute; "
        "Ctrl-C stops it"
    )


def _rank_resources() -> tuple[str, int]:
    """What Ray Train gives each rank, and how many of it the cluster has."""
    kind = rank_device()
    return kind, int(ray.cluster_resources().get(kind, 0))


def rank_device() -> str:
    """ "GPU" where the cluster has GPUs (Ray Train gives each rank one), else "CPU"."""
    return "GPU" if ray.cluster_resources().get("GPU") else "CPU"


def fit_at_once(
    runs: dict[Key, RayTrainRun], at_once: int, started: Callable[[Key], None]
) -> Iterator[tuple[Key, Exception | None]]:
    """Fit the runs on the cluster this process is on, up to `at_once` at a time, each from a
    Ray task of its own; yields each run's key as it ends, with the error that ended it (the
    others go on). Leaving early (Ctrl-C) cancels the runs still going: a task that ends
    takes its Ray Train controller, and so its ranks, with it."""
    fit = ray.remote(num_cpus=0, max_retries=0)(_fit)
    waiting = list(runs.items())
    going: dict[ray.ObjectRef, Key] = {}
    try:
        while waiting or going:
            while waiting and len(going) < at_once:
                key, run = waiting.pop(0)
                going[fit.options(name=f"train {run.origin}").remote(run)] = key
                started(key)
            [ended], _ = ray.wait(list(going))
            yield going.pop(ended), _error_of(ended)
    finally:
        for task in going:
            ray.cancel(task, force=True)


def fit_on_the_cluster(run: RayTrainRun) -> None:
    """Fit the run from a Ray task on the cluster this process is on; what ended it, raised."""
    [(_, error)] = fit_at_once({run.origin: run}, 1, lambda origin: None)
    if error is not None:
        raise error


def _fit(run: RayTrainRun) -> None:
    run.fit()


def _error_of(task: ray.ObjectRef) -> Exception | None:
    """What the task raised (the exception itself, not Ray's wrapper with its traceback)."""
    try:
        ray.get(task)
    except ray.exceptions.RayTaskError as err:
        return err.cause if isinstance(err.cause, Exception) else err
    return None
