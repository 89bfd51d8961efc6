"""Sharded checkpoints: `RUN/checkpoints/step-NNNNNNN/`, or under `checkpoint.folder`, a local
folder or any fsspec URL (s3://, gs://).

Model and optimizer go through `torch.distributed.checkpoint` (each rank writes its own
shards); each rank's training state (step, loader, skipped steps, RNG) goes to
`rank-R.pt`; `meta.json` holds the model arguments and the sha256 of those files, and the
tokenizer is copied beside them so export and generation need nothing else. A checkpoint
is written under a `.tmp` name, renamed when every rank has finished, and only then gets its
meta.json, so a crash never leaves a half checkpoint that `--resume auto` would pick (on an
object store, where a rename is a copy, too). A checkpoint damaged later (a
truncated file, a flipped byte, a lost rank file) is refused by `load` with a
`CheckpointError` naming the file: DCP itself would load a flipped byte silently.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from trainer.data import sha256_file
from trainer.errors import TrainingError
from trainer.model_args import ModelArgs
from trainer.parallelize import World
from trainer.storage import (
    Location,
    RemotePath,
    copy_file,
    location,
    move,
    read_json_object,
    remove_tree,
)

STEP_DIR = re.compile(r"^step-(\d{7})$")
TRAINED_ONLY = StateDictOptions(ignore_frozen_params=True)
"""Frozen parameters (a LoRA run's base model) are not saved: they come from `base` in
meta.json, so a LoRA checkpoint holds only the adapters."""
SET_TRAINED = StateDictOptions(ignore_frozen_params=True, strict=False)
"""Setting the trained parameters only; not strict, as the frozen ones are absent (DCP's load
has already refused a checkpoint that lacks any trained one)."""


FULL_DEVICE_BYTES = 1 << 20
"""Free space under which a failed save is put down to a full device."""


class CheckpointError(TrainingError):
    """A checkpoint that cannot be saved or loaded; the message names the folder or file and
    why."""


@contextmanager
def _quiet_single_process():
    """DCP warns that it assumes one process when there is no process group; that is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def step_dir(folder: Location, step: int) -> Location:
    return folder / f"step-{step:07d}"


def complete_checkpoints(folder: str | Location) -> list[Location]:
    """The finished checkpoints in a checkpoints folder (those with a meta.json), oldest first."""
    folder = location(folder)
    found = [p for p in folder.iterdir() if STEP_DIR.match(p.name)] if folder.is_dir() else []
    found = [p for p in found if (p / "meta.json").is_file()]
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


def _write_whole(file: Location, text: str) -> None:
    """Write a local file under a temporary name and rename it, so a kill mid-write leaves no
    empty meta.json for `--resume auto` to pick; an object store's put is whole already."""
    if isinstance(file, RemotePath):
        file.write_text(text, encoding="utf-8")
        return
    temp = file.with_name(file.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    temp.rename(file)


def _barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def rng_states() -> dict[str, Any]:
    states = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _checksums(folder: Location, names: list[str], world: World) -> dict[str, str]:
    """sha256 of each of `names` in `folder`; every rank hashes its share, so they hash in parallel."""
    mine = {name: sha256_file(folder / name) for name in names[world.rank :: world.size]}
    if not world.distributed:
        return mine
    shares: list[dict[str, str] | None] = [None] * world.size
    dist.all_gather_object(shares, mine)
    return {name: digest for share in shares for name, digest in share.items()}


class Checkpointer:
    """A run's checkpoints: saves them, keeps the last `keep`, and resumes from one.

    Saves are asynchronous, as torchtitan's are: `save` copies the model and optimizer state
    to host memory and returns while a thread writes it; `finish` (the loop calls it at the
    next logged step, the next save and the end) waits for the write, records the checksums
    and renames the folder, so only a finished checkpoint ever has its final name. The writes
    talk over a gloo group of their own, never the one training uses.

    One per run; the model and optimizer are handed to each call, so the same object serves
    any objective's model."""

    def __init__(
        self,
        folder: str | Location,
        world: World,
        args: ModelArgs,
        tokenizer: Location,
        keep: int,
        meta: dict[str, Any] | None = None,
    ):
        self.folder, self.world, self.args = location(folder), world, args
        self.tokenizer, self.keep, self.meta = tokenizer, keep, meta or {}
        self.group = dist.new_group(backend="gloo") if dist.is_initialized() else None
        self.pending: tuple[int, Location, Any] | None = None

    def save(
        self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
    ) -> None:
        """Start writing step `step`'s checkpoint; `state` is this rank's training state
        (loader, ...). The state of this step is what is written, whatever trains meanwhile."""
        self.finish()
        world = self.world
        final = step_dir(self.folder, step)
        temp = final.with_name(final.name + ".tmp")
        if world.is_main:
            remove_tree(temp)
            temp.mkdir(parents=True)
        _barrier(world)
        try:
            with (temp / f"rank-{world.rank}.pt").open("wb") as handle:
                torch.save({**state, "step": step, "rng": rng_states()}, handle)
        except (OSError, RuntimeError) as err:  # torch's zip writer: a RuntimeError
            raise _not_saved(temp, err) from None
        model_state, optim_state = get_state_dict(model, optimizer, options=TRAINED_ONLY)
        with _quiet_single_process():
            future = dcp.async_save(
                {"model": model_state, "optim": optim_state},
                checkpoint_id=str(temp) if isinstance(temp, RemotePath) else temp,
                process_group=self.group,
            )
        self.pending = (step, temp, future)

    def finish(self) -> Location | None:
        """Wait for the save in flight, if any, and make it a complete checkpoint."""
        if self.pending is None:
            return None
        step, temp, future = self.pending
        self.pending = None
        try:
            future.result()
        except CheckpointException as err:  # DCP gathers every rank's failure
            failure, _ = next(iter(err.failures.values()))
            raise _not_saved(temp, failure) from None
        world, final = self.world, step_dir(self.folder, step)
        _barrier(world)
        checksums = _checksums(temp, sorted(p.name for p in temp.iterdir()), world)
        if world.is_main:
            meta = {
                "step": step,
                "model": dataclasses.asdict(self.args),
                "world_size": world.size,
                "files": checksums,
                **self.meta,
            }
            copy_file(self.tokenizer, temp / "tokenizer.json")
            remove_tree(final)
            move(temp, final)
            _write_whole(final / "meta.json", json.dumps(meta, indent=2))
            for old in complete_checkpoints(self.folder)[: -self.keep]:
                remove_tree(old)
        _barrier(world)
        return final

    def candidates(self, resume: str) -> list[Location]:
        """The checkpoints `--resume` allows, newest first: none, each complete one (auto), or PATH."""
        if resume == "none":
            return []
        if resume == "auto":
            return complete_checkpoints(self.folder)[::-1]
        path = location(resume)
        if not (path / "meta.json").is_file():
            raise CheckpointError(f"--resume {resume}: not a complete checkpoint folder")
        return [path]

    def restore(
        self, candidates: list[Location], model: nn.Module, optimizer: torch.optim.Optimizer
    ) -> tuple[Location, dict]:
        """Load the first of `candidates` that loads, saying on one line why each one before
        did not. When none loads the run stops: starting over would silently throw its
        training away. A checkpoint of another model's shape stops it at once: the older
        ones are of that shape too."""
        self._refuse_another_shape(candidates[0])
        errors = []
        for index, path in enumerate(candidates):
            try:
                return path, load(path, model, optimizer, self.world)
            except CheckpointError as err:
                errors.append(str(err))
                if self.world.is_main and index + 1 < len(candidates):
                    print(
                        f"cannot resume from {path}: {err}; falling back to {candidates[index + 1]}",
                        file=sys.stderr,
                        flush=True,
                    )
        tried = ", ".join(str(path) for path in candidates)
        raise CheckpointError(f"cannot resume from {tried}: {'; '.join(errors)}")

    def _refuse_another_shape(self, path: Location) -> None:
        try:
            saved = read_args(path)
        except (CheckpointError, OSError, ValueError):
            return  # left to the load, which says what is wrong with the checkpoint
        if saved == self.args:
            return
        differ = [
            f"{name} {getattr(saved, name)} there, {getattr(self.args, name)} here"
            for name in (field.name for field in dataclasses.fields(ModelArgs))
            if getattr(saved, name) != getattr(self.args, name)
        ]
        raise CheckpointError(
            f"cannot resume from {path}: it holds a model of another shape ({', '.join(differ)}); "
            "resume with the model it was written with, or start over with --resume none or "
            "another --output"
        )


def _not_saved(temp: Location, failure: BaseException) -> CheckpointError:
    """Why checkpoint `temp` was not written, on one line. torch's file writer reports a
    full disk as a broken zip file (`unexpected pos 704 vs 598`), so a device that has no
    room left is named as the cause."""
    reason = _one_line(failure)
    if isinstance(temp, Path) and shutil.disk_usage(temp.parent).free < FULL_DEVICE_BYTES:
        reason = f"no space left on the device ({reason})"
    return CheckpointError(f"{temp}: not saved: {reason}")


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _verify_file(file: Location, expected: str) -> None:
    if not file.is_file():
        raise CheckpointError(f"{file}: missing (meta.json lists it)")
    try:
        actual = sha256_file(file)
    except OSError as err:
        raise CheckpointError(f"{file}: {_one_line(err)}") from None
    if actual != expected:
        raise CheckpointError(f"{file}: sha256 does not match the one in meta.json")


def _verify_recorded(path: Location, rank: int = 0, size: int = 1) -> None:
    """Check the files meta.json records against their sha256: every `size`-th of them in
    name order, from the `rank`-th (so ranks share the work). Checkpoints written before
    meta.json recorded checksums have none to check."""
    try:
        recorded = read_meta(path).get("files", {})
    except FileNotFoundError as err:
        raise CheckpointError(str(err)) from None
    for name in sorted(recorded)[rank::size]:
        _verify_file(path / name, recorded[name])


def _read_state(path: Location, world: World) -> dict:
    """This rank's training state, once this rank's share of the files matches meta.json."""
    _verify_recorded(path, world.rank, world.size)
    state_file = path / f"rank-{world.rank}.pt"
    if not state_file.is_file():
        raise CheckpointError(
            f"{state_file}: missing; was {path} written by a run with a different number of ranks?"
        )
    try:
        with state_file.open("rb") as handle:
            return torch.load(handle, weights_only=False)
    except Exception as err:  # a damaged pickle or zip raises one of many types
        raise CheckpointError(f"{state_file}: {_one_line(err)}") from None


def _agree(world: World, error: str | None) -> str | None:
    """The first error any rank met, on every rank, so that all ranks give up together."""
    if not world.distributed:
        return error
    errors: list[str | None] = [None] * world.size
    dist.all_gather_object(errors, error)
    return next((e for e in errors if e), None)


def load(path: Location, model: nn.Module, optimizer: torch.optim.Optimizer, world: World) -> dict:
    """Restore model, optimizer and RNG in place; return this rank's training state.

    If any rank cannot load `path`, every rank raises the same CheckpointError. The files are
    checked before the model is touched, but DCP can still fail halfway (a checkpoint without
    checksums); the model and optimizer are then fit only to load another checkpoint into.
    """
    state, error = None, None
    try:
        state = _read_state(path, world)
    except CheckpointError as err:
        error = str(err)
    error = _agree(world, error)
    if error:
        raise CheckpointError(error)
    model_state, optim_state = get_state_dict(model, optimizer, options=TRAINED_ONLY)
    loaded = {"model": model_state, "optim": optim_state}
    _dcp_read(loaded, path)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=loaded["model"],
        optim_state_dict=loaded["optim"],
        options=SET_TRAINED,
    )
    restore_rng(state.pop("rng"))
    return state


def _dcp_read(state: dict[str, Any], path: Location) -> None:
    """Load `state` in place from the DCP checkpoint `path`; where that fails, a
    CheckpointError with DCP's cause (the same on every rank: DCP gathers the failures)."""
    try:
        with _quiet_single_process():
            dcp.load(state, checkpoint_id=_dcp_id(path))
    except CheckpointException as err:
        failure, _ = next(iter(err.failures.values()))
        raise CheckpointError(f"{path}: {_one_line(failure)}") from None


def _dcp_id(path: Location) -> str | Path:
    return str(path) if isinstance(path, RemotePath) else path


def read_meta(path: str | Location) -> dict[str, Any]:
    """A checkpoint's meta.json: FileNotFoundError where there is none, CheckpointError
    where it does not parse as an object."""
    path = location(path)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        latest = latest_checkpoint_in(path)
        hint = f"did you mean {latest}?" if latest else f"is {path} a tokenmill checkpoint?"
        raise FileNotFoundError(f"{meta_file}: not found; {hint}")
    try:
        return read_json_object(meta_file)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{meta_file}: {_one_line(err)}") from None


def latest_checkpoint_in(path: Location) -> Location | None:
    """The latest finished checkpoint of a training run's folder or its checkpoints folder:
    what a user who names one of those where a checkpoint is wanted likely meant."""
    for folder in (path / "checkpoints", path):
        if found := complete_checkpoints(folder):
            return found[-1]
    return None


def read_args(path: str | Location) -> ModelArgs:
    return _model_args(read_meta(path), path)


def _model_args(meta: dict[str, Any], path: str | Location) -> ModelArgs:
    """The model arguments meta.json records; CheckpointError where they cannot build one."""
    try:
        return ModelArgs(**meta["model"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path}/meta.json: no model arguments ({_one_line(err)}); is {path} a tokenmill "
            "checkpoint?"
        ) from None


def load_model(path: str | Location) -> nn.Module:
    """The model in a checkpoint or a Hugging Face folder, on CPU in fp32, in one process
    (for export, generation, and as a run's start). A checkpoint's files are checked against
    meta.json first: a damaged one is a CheckpointError naming it, never a different model.

    A LoRA checkpoint (meta.json's `lora`) is its `base` model, itself a checkpoint or a
    Hugging Face folder, with the saved adapters (and any score head) merged in."""
    from trainer.hf_import import is_hf_folder, load_hf_model
    from trainer.model import Transformer

    path = location(path)
    if is_hf_folder(path):
        return load_hf_model(path)
    meta = read_meta(path)
    _verify_recorded(path)
    model = Transformer(_model_args(meta, path))
    options = None
    if "lora" in meta:
        from trainer.config import LoraConfig
        from trainer.lora import add_adapters

        model = add_adapters(model, LoraConfig(**meta["lora"]))
        model.load_state_dict(load_model(meta["base"]).state_dict(), strict=False)
        options = TRAINED_ONLY
    state = get_model_state_dict(model, options=options)
    _dcp_read({"model": state}, path)
    set_model_state_dict(model, state, options=options and SET_TRAINED)
    if "lora" in meta:
        from trainer.lora import merge

        merge(model)
    return model.eval()
