"""Sharded checkpoints: `RUN/checkpoints/step-NNNNNNN/`.

Model and optimizer go through `torch.distributed.checkpoint` (each rank writes its own
shards); each rank's training state (step, loader, skipped steps, RNG) goes to
`rank-R.pt`; `meta.json` holds the model arguments, and the tokenizer is copied beside
them so export and generation need nothing else. A checkpoint is written under a `.tmp`
name and renamed when every rank has finished, so a crash never leaves a half checkpoint
that `--resume auto` would pick.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from trainer.model import ModelArgs
from trainer.parallelize import World

STEP_DIR = re.compile(r"^step-(\d{7})$")


@contextmanager
def _quiet_single_process():
    """DCP warns that it assumes one process when there is no process group; that is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def step_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:07d}"


def complete_checkpoints(run: Path) -> list[Path]:
    folder = run / "checkpoints"
    found = [p for p in folder.iterdir() if STEP_DIR.match(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


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


def save(
    run: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    args: ModelArgs,
    tokenizer: Path,
    world: World,
    keep: int,
) -> Path:
    final = step_dir(run, step)
    temp = final.with_name(final.name + ".tmp")
    if world.is_main:
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
    _barrier(world)
    model_state, optim_state = get_state_dict(model, optimizer)
    with _quiet_single_process():
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=temp)
    torch.save({**state, "step": step, "rng": rng_states()}, temp / f"rank-{world.rank}.pt")
    _barrier(world)
    if world.is_main:
        meta = {"step": step, "model": dataclasses.asdict(args), "world_size": world.size}
        (temp / "meta.json").write_text(json.dumps(meta, indent=2))
        shutil.copyfile(tokenizer, temp / "tokenizer.json")
        shutil.rmtree(final, ignore_errors=True)
        temp.rename(final)
        for old in complete_checkpoints(run)[:-keep]:
            shutil.rmtree(old)
    _barrier(world)
    return final


def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, world: World) -> dict:
    """Restore model, optimizer and RNG in place; return this rank's training state."""
    state_file = path / f"rank-{world.rank}.pt"
    if not state_file.is_file():
        raise FileNotFoundError(
            f"{state_file}: missing; was {path} written by a run with a different number of ranks?"
        )
    model_state, optim_state = get_state_dict(model, optimizer)
    loaded = {"model": model_state, "optim": optim_state}
    with _quiet_single_process():
        dcp.load(loaded, checkpoint_id=path)
    set_state_dict(
        model, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"]
    )
    state = torch.load(state_file, weights_only=False)
    restore_rng(state.pop("rng"))
    return state


def read_args(path: Path) -> ModelArgs:
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file}: not found; is {path} a tokenmill checkpoint?")
    return ModelArgs(**json.loads(meta_file.read_text())["model"])


def load_model(path: Path) -> nn.Module:
    """The checkpoint's model on CPU in fp32, in one process (for export and generation)."""
    from trainer.model import Transformer

    model = Transformer(read_args(path))
    state = get_model_state_dict(model)
    with _quiet_single_process():
        dcp.load({"model": state}, checkpoint_id=path)
    set_model_state_dict(model, state)
    return model.eval()
