"""How `tokenmill train` starts the trainer: in this process, under torchrun, or on Ray Train.

The config is read here with the job config's `--set` rules, validated, and written to
`RUN/config.yaml`; every rank then runs `trainer.train` on that resolved file, so the
trainer itself needs neither Ray nor the pipeline.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import fsspec
import yaml

from pipeline.config_kind import refuse_another_kind
from pipeline.output import LOCK_NAME, RunOutput, forbidden_folder
from pipeline.output_lock import locked
from pipeline.schema import ConfigError, PathCheck, absolute, read_config
from pipeline.torchrun import PARENT_PID
from trainer.config import PosttrainConfig, TrainConfig, TrainConfigError, validate_train_config
from trainer.errors import TrainingError
from trainer.rank_errors import RANK_ERRORS, told_errors
from trainer.storage import is_url

if TYPE_CHECKING:
    from pipeline.ray_train import RayTrainRun

Key = TypeVar("Key")


def load_train_config(
    path: str,
    overrides: list[str],
    output: str | None = None,
    nproc: int = 1,
    kind: str | None = None,
) -> TrainConfig:
    """The validated config for `nproc` ranks: a global batch that does not split over
    them, or an output that is not the run's own (`refuse_unfit_output`), is a config error
    before any rank starts.
    `kind` (sft, reward, dpo, grpo: the command's name) makes it a post-training config; a
    config of another kind is refused."""
    data = read_config(path, overrides, output)
    refuse_another_kind(data, str(path), kind or "train")
    if kind:
        data.setdefault("kind", kind)
    return train_config(data, str(path), nproc)


def train_config(
    data: dict[str, Any], origin: str, nproc: int = 1, path_check: PathCheck | None = None
) -> TrainConfig:
    """`load_train_config` for a config already read into a mapping (a post-training one
    when it has a `kind`); `path_check` may refuse any path it holds (before any of them is
    looked at)."""
    try:
        config = validate_train_config(data, origin=origin)
    except TrainConfigError as err:
        raise ConfigError(str(err)) from None
    try:
        config.accumulation_steps(nproc)
    except TrainConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None
    if path_check is not None:
        refused = [
            f"{origin}: {key}: {problem}"
            for key, path in training_paths(config)
            if (problem := path_check(path)) is not None
        ]
        if refused:
            raise ConfigError("\n".join(refused))
    problems = [
        f"{origin}: {key}: {problem}"
        for key, path in training_paths(config)
        if (problem := _local_path_problem(key, path)) is not None
    ]
    if problems:
        raise ConfigError("\n".join(problems))
    refuse_unfit_output(Path(config.output))
    return with_absolute_paths(config)


def with_absolute_paths(config: TrainConfig) -> TrainConfig:
    """The config with its local relative paths made absolute against this folder, as a
    pipeline config's are: ranks on Ray Train (and a Ray Job's command) start in another
    folder, where `runs/quickstart` was not found."""
    data = config.to_dict()
    for key, path in training_paths(config):
        if "://" not in path and not Path(path).is_absolute():
            *parents, last = key.split(".")
            holder = data
            for part in parents:
                holder = holder[int(part)] if isinstance(holder, list) else holder[part]
            holder[last] = absolute(path)
    return validate_train_config(data)


WRITTEN = ("output", "checkpoint.folder")
"""The paths a training run writes; every other path it holds must exist before it starts."""
FILES = ("data.train", "data.val", "data.tokenizer")
"""The paths a training run reads as files; the others it reads are folders (runs,
checkpoints)."""


TOKENS_MANIFEST = Path("tokens", "manifest.json")
"""What makes a pipeline run's output folder one a training run can draw from."""


def _local_path_problem(key: str, path: str) -> str | None:
    """Why a local path the run reads cannot serve: not there, a folder for a file, or a
    folder for a pipeline run that holds no token shards."""
    if key in WRITTEN or "://" in path:
        return None
    if not Path(path).exists():
        if key in FILES and fsspec.core.has_magic(path):
            return f"a glob, not a file (wildcards are not expanded here): {path}"
        return f"not found: {path}"
    if key in FILES and Path(path).is_dir():
        return f"a folder, not a file: {path}"
    if key.startswith(("data.runs.", "data.replay.runs.")):
        return _not_a_token_run(Path(path))
    return None


def _not_a_token_run(run: Path) -> str | None:
    if (run / TOKENS_MANIFEST).is_file():
        return None
    near = [folder for folder in run.parents[:2] if (folder / TOKENS_MANIFEST).is_file()]
    return (
        f"{run} holds no token shards (no {TOKENS_MANIFEST}): give a pipeline run's output "
        "folder, from a job with `tokenizer` and `mixture`"
        + (f"; did you mean {near[0]}?" if near else "")
    )


def training_paths(config: TrainConfig) -> Iterator[tuple[str, str]]:
    """The paths a training config holds, by key."""
    yield "output", config.output
    starts = {"init_from": config.init_from, "branch_from": config.branch_from}
    yield from ((key, path) for key, path in starts.items() if path is not None)
    if isinstance(config, PosttrainConfig):
        data = config.data
        optional = {"data.val": data.val, "data.tokenizer": data.tokenizer}
        yield "data.train", data.train
        yield from ((key, path) for key, path in optional.items() if path is not None)
    else:
        for index, run in enumerate(config.data.runs):
            yield f"data.runs.{index}.path", run.path
        replay = config.data.replay
        for index, run in enumerate(replay.runs or [] if replay else []):
            yield f"data.replay.runs.{index}.path", run.path
    if config.checkpoint.folder is not None:
        yield "checkpoint.folder", config.checkpoint.folder


RAY_TRAIN_FOLDER = "ray"
"""Ray Train's own storage in a training run's folder (runs with `--address`)."""
TRAINING_RUN_NAMES = frozenset(
    {"config.yaml", "metrics.jsonl", "tb", "checkpoints", RAY_TRAIN_FOLDER, LOCK_NAME}
)
"""What a training run writes in its folder (`--resume auto` finds its checkpoints there)."""


def refuse_unfit_output(output: Path) -> None:
    """A training run writes its own folder: config.yaml, metrics.jsonl, tb/ and
    checkpoints/ would overwrite a user's files of those names, and would mix with a
    pipeline run's documents and tokens. So the folder is new, empty, or a training run's;
    never `/`, the home or current folder, or a source checkout."""
    problem = forbidden_folder(output) or _not_a_training_run(output)
    if problem:
        raise ConfigError(
            f"output: {output} {problem}; give the training run a folder of its own (e.g. "
            "runs/train-NAME)"
        )


def _not_a_training_run(output: Path) -> str | None:
    if output.is_file():
        return "is a file"
    if not output.is_dir():
        return None
    if (output / "_state").is_dir() or (output / "documents").is_dir():
        return "holds a pipeline run"
    foreign = sorted(path.name for path in output.iterdir() if path.name not in TRAINING_RUN_NAMES)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        return f"holds files that are not a tokenmill training run ({shown})"
    return None


def refuse_rescheduling(config: TrainConfig, resume: str) -> None:
    """A resumed run keeps its learning-rate schedule: resuming from a checkpoint whose
    schedule differs (a changed `train.steps` stretches the decay mid-run) is a config error
    naming the keys, unless the user asks for it (`--reschedule`)."""
    if changed := schedule_changes(config, resume):
        raise ConfigError(
            f"{'; '.join(changed)}: a resumed run keeps its learning-rate schedule; rerun "
            "with --reschedule to change it from the checkpoint's step on, or --resume none "
            "to start over"
        )


def schedule_changes(config: TrainConfig, resume: str) -> list[str]:
    """How the learning-rate schedule differs from the one of the checkpoint `resume` finds
    (`train.steps: 100 in RUN/checkpoints/step-0000050, 200 now`); none for `--resume none`."""
    from trainer.checkpoint import complete_checkpoints, read_meta

    if resume == "none":
        return []
    found = complete_checkpoints(config.checkpoint_folder()) if resume == "auto" else [resume]
    if not found:
        return []
    recorded = read_meta(found[-1]).get("schedule", {})
    now = config.train.schedule_settings()
    return [
        f"train.{key}: {recorded[key]} in {found[-1]}, {now[key]} now"
        for key in recorded
        if key in now and recorded[key] != now[key]
    ]


def resolved_text(config: TrainConfig) -> str:
    """The validated config as YAML: paths absolute, defaults filled in."""
    return yaml.safe_dump(config.to_dict())


def write_resolved(config: TrainConfig) -> Path:
    """OUTPUT/config.yaml; the run's lock (`launch`) has made the folder, or said why not."""
    resolved = Path(config.output) / "config.yaml"
    resolved.write_text(resolved_text(config), encoding="utf-8")
    return resolved


def entry_module(config: TrainConfig) -> str:
    """The module whose `train` and `main` run this config on a rank."""
    return "trainer.posttrain" if isinstance(config, PosttrainConfig) else "trainer.train"


def launch(config: TrainConfig, nproc: int, address: str | None, resume: str) -> dict:
    """Train with `nproc` ranks; the last logged metrics of rank 0 (in-process runs only).
    With `--address`, or `RAY_ADDRESS` (a Ray Job's entrypoint), the ranks run on Ray Train.
    One run at a time per output folder: a second is refused while the first trains (both
    resumed from and wrote the same checkpoints)."""
    with locked(RunOutput(config.output)):
        return _launch_ranks(config, nproc, address, resume)


def launch_at_once(
    configs: dict[Key, TrainConfig],
    nproc: int,
    resume: str,
    at_once: int,
    started: Callable[[Key], None],
) -> Iterator[tuple[Key, Exception | None]]:
    """`launch` of several runs on the cluster this process has joined, up to `at_once` at a
    time (each run's folder locked until all have ended); yields each run's key as it ends,
    with the error that ended it."""
    from pipeline.ray_train import fit_at_once

    with ExitStack() as held:
        runs = {}
        for key, config in configs.items():
            held.enter_context(locked(RunOutput(config.output)))
            runs[key] = ray_train_run(config, write_resolved(config), nproc, resume)
        yield from fit_at_once(runs, at_once, started)


def ray_train_run(config: TrainConfig, resolved: Path, nproc: int, resume: str) -> RayTrainRun:
    """The run as Ray Train runs it, once every node is found to see the folders it writes
    and the files it reads (this process is on the cluster)."""
    from pipeline.ray_train import RayTrainRun
    from pipeline.shared_paths import refuse_unshared_training

    refuse_unshared_training(*_paths_on_every_node(config))
    return RayTrainRun(
        config=resolved.read_text(encoding="utf-8"),
        origin=str(resolved),
        nproc=nproc,
        resume=resume,
        module=entry_module(config),
        storage=str((resolved.parent / RAY_TRAIN_FOLDER).resolve()),
    )


def _launch_ranks(config: TrainConfig, nproc: int, address: str | None, resume: str) -> dict:
    from pipeline.cluster import cluster_address

    resolved = write_resolved(config)
    if address := cluster_address(address):
        from pipeline.cluster import joined
        from pipeline.ray_train import fit_on_the_cluster, short_of_ranks

        with joined(address):
            run = ray_train_run(config, resolved, nproc, resume)
            if short := short_of_ranks(nproc):
                print(f"warning: {short}", file=sys.stderr, flush=True)
            fit_on_the_cluster(run)
        return {}
    module = entry_module(config)
    if nproc == 1:
        try:
            return importlib.import_module(module).train(config, resume=resume)
        except TrainConfigError as err:  # found with the data: a hold-out that takes it all
            raise ConfigError(str(err)) from None
    with tempfile.TemporaryDirectory(prefix="tokenmill-ranks-") as errors:
        returncode = _torchrun(nproc, module, resolved, resume, Path(errors))
        told = told_errors(Path(errors))
    if returncode and told:  # each different one once, in rank order
        raise TrainingError("\n".join(dict.fromkeys(told[rank] for rank in sorted(told))))
    if returncode:  # a rank stopped by a signal, which torchrun named
        raise TrainingError(
            f"torchrun exited with status {returncode}: what the ranks said is above"
        )
    return {}


TORCHRUN_SHUTDOWN_S = 60
"""How long Ctrl-C waits for torchrun to stop its ranks (it gives them 30 s) before killing it."""


def _torchrun(nproc: int, module: str, resolved: Path, resume: str, errors: Path) -> int:
    """torchrun's exit status; the ranks write their errors to `errors`. On Ctrl-C (or
    SIGTERM, which the CLI makes one) it is waited for while it stops the ranks (each in a
    session of its own): `subprocess.run` killed it after a quarter of a second, which could
    leave them running."""
    command = [
        sys.executable,
        "-m",
        "pipeline.torchrun",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        module,
        str(resolved),
        "--resume",
        resume,
    ]
    # torchrun's own default, without its banner saying so.
    environment = {
        "OMP_NUM_THREADS": "1",
        **os.environ,
        PARENT_PID: str(os.getpid()),
        RANK_ERRORS: str(errors),
    }
    with subprocess.Popen(command, env=environment) as torchrun:
        try:
            return torchrun.wait()
        except KeyboardInterrupt:
            torchrun.send_signal(signal.SIGINT)  # if the Ctrl-C reached this process only
            try:
                torchrun.wait(timeout=TORCHRUN_SHUTDOWN_S)
            except subprocess.TimeoutExpired:
                torchrun.kill()
            raise


def _paths_on_every_node(config: TrainConfig) -> tuple[dict[str, Path], dict[str, str]]:
    """The local folders the ranks write and the local files they read, by config key (a
    token run by its manifest)."""
    written, read = {}, {}
    for key, path in training_paths(config):
        if is_url(path):
            continue
        if key in WRITTEN:
            written[key] = Path(path)
        elif key in FILES:
            read[key] = path
        elif key.startswith(("data.runs.", "data.replay.runs.")):
            read[key] = str(Path(path) / TOKENS_MANIFEST)
    return written, read
