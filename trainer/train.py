"""The pre-training loop. One process, or one per rank under torchrun or Ray Train.

`python -m trainer.train RUN/config.yaml` runs a resolved config (the `tokenmill train`
command writes it after applying `--set`); under torchrun every rank runs this module.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from tokenizers import Tokenizer

from trainer import checkpoint
from trainer.config import TrainConfig, read_train_config
from trainer.data import Loader, check_shards, train_shards, validation_windows
from trainer.errors import TrainingError
from trainer.metrics import MetricsLog, memory_gib
from trainer.model import Transformer, flops_per_token, parameter_count
from trainer.optim import build_optimizer, lr_at
from trainer.parallelize import World, autocast, init_world, parallelize


def tokenizer_path(config: TrainConfig) -> Path:
    """The first run's tokenizer; every run must have been tokenized with the same one."""
    paths = [Path(run.path) / "tokenizer" / "tokenizer.json" for run in config.data.runs]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: tokenizer not found (data.runs)")
    if len({path.read_bytes() for path in paths}) > 1:
        raise ValueError("data.runs: the runs were tokenized with different tokenizers")
    return paths[0]


def resume_candidates(run: Path, resume: str) -> list[Path]:
    """The checkpoints `--resume` allows, newest first: none, each complete one (auto), or PATH."""
    if resume == "none":
        return []
    if resume == "auto":
        return checkpoint.complete_checkpoints(run)[::-1]
    path = Path(resume)
    if not (path / "meta.json").is_file():
        raise checkpoint.CheckpointError(f"--resume {resume}: not a complete checkpoint folder")
    return [path]


def restore(candidates: list[Path], model, optimizer, world: World) -> tuple[Path, dict]:
    """Load the first of `candidates` that loads, saying on one line why each one before did not.

    When none loads the run stops: starting over would silently throw its training away.
    """
    errors = []
    for index, path in enumerate(candidates):
        try:
            return path, checkpoint.load(path, model, optimizer, world)
        except checkpoint.CheckpointError as err:
            errors.append(str(err))
            if world.is_main and index + 1 < len(candidates):
                print(
                    f"cannot resume from {path}: {err}; falling back to {candidates[index + 1]}",
                    file=sys.stderr,
                    flush=True,
                )
    tried = ", ".join(str(path) for path in candidates)
    raise checkpoint.CheckpointError(f"cannot resume from {tried}: {'; '.join(errors)}")


def _reduce_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:  # gloo has no AVG
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / world.size
    return value


@torch.no_grad()
def validate(model, windows: dict[str, torch.Tensor], config: TrainConfig, world: World) -> dict:
    """Mean loss per source; every rank evaluates all windows (FSDP needs them in step)."""
    model.eval()
    result, total, count = {}, 0.0, 0
    for source, data in windows.items():
        loss_sum = torch.zeros((), device=world.device)
        for batch in data.split(config.train.micro_batch_size):
            batch = batch.to(world.device)
            with autocast(config.parallel, world):
                loss_sum += model(batch[:, :-1], batch[:, 1:]) * len(batch)
        result[f"val_loss/{source}"] = loss_sum.item() / len(data)
        total, count = total + loss_sum.item(), count + len(data)
    if count:
        result["val_loss"] = total / count
    model.train()
    return result


def train(config: TrainConfig, resume: str = "auto") -> dict[str, Any]:
    """Train to `train.steps`, resuming from a checkpoint; return the last metrics."""
    world = init_world(config.parallel)
    run = Path(config.output)
    run.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        (run / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    torch.manual_seed(config.train.seed)

    tokenizer = tokenizer_path(config)
    runs = [(Path(r.path), r.weight) for r in config.data.runs]
    shards = {path: train_shards(path) for path, _ in runs}
    for path in shards:
        check_shards(path, config.data.verify_checksums)
    args = config.model.args(Tokenizer.from_file(str(tokenizer)).get_vocab_size())
    model = parallelize(Transformer(args).to(world.device), config.parallel, world)
    optimizer = build_optimizer(model, config.train)
    accumulation = config.accumulation_steps(world.size)

    start, state, resumed_from = 0, {"loader": None, "skipped_steps": 0}, None
    candidates = resume_candidates(run, resume)
    if candidates:
        resumed_from, state = restore(candidates, model, optimizer, world)
        start = state["step"]
    loader = Loader(
        [(shards[path], weight) for path, weight in runs],
        config.data.seq_len,
        config.sequences_per_step(),
        config.train.micro_batch_size,
        world.rank,
        world.size,
        config.train.seed,
        config.data.prefetch,
        state["loader"],
    )
    val_windows = validation_windows(
        [p for p, _ in runs], config.data.seq_len, config.data.val_tokens
    )
    log = MetricsLog(run, world.is_main, config.train.steps, start)
    flops = flops_per_token(args, config.data.seq_len)
    if world.is_main:
        counts = parameter_count(args)
        print(
            f"model: {counts['total']:,} parameters ({counts['matmul']:,} in matmuls), "
            f"{flops:,.0f} FLOPs/token; {world.size} rank(s), {accumulation} micro-batch(es)/step"
            + (f"; resumed from {resumed_from}" if resumed_from else ""),
            flush=True,
        )

    def save(step: int) -> None:
        extra = {"loader": loader.state, "skipped_steps": state["skipped_steps"]}
        checkpoint.save(
            run, step, model, optimizer, extra, args, tokenizer, world, config.checkpoint.keep
        )

    last: dict[str, Any] = {"step": start}
    clock, tokens_since = time.perf_counter(), 0
    step = start
    try:
        for step in range(start + 1, config.train.steps + 1):
            batch = next(loader)
            lr = lr_at(step, config.train)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = torch.zeros((), device=world.device)
            for micro in range(accumulation):
                inputs = batch.inputs[micro].to(world.device, non_blocking=True)
                targets = batch.targets[micro].to(world.device, non_blocking=True)
                with autocast(config.parallel, world):
                    micro_loss = model(inputs, targets, z_loss=config.train.z_loss)
                micro_loss = micro_loss / accumulation
                micro_loss.backward()
                loss += micro_loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            loss = _reduce_mean(loss, world)
            if torch.isfinite(loss) and torch.isfinite(grad_norm):
                optimizer.step()
            else:
                state["skipped_steps"] += 1
            optimizer.zero_grad(set_to_none=True)
            tokens_since += config.train.global_batch_tokens
            log.advance()

            row: dict[str, Any] = {}
            if step % config.train.log_every == 0 or step == config.train.steps:
                elapsed = time.perf_counter() - clock
                tokens_per_s = tokens_since / elapsed
                row = {
                    "step": step,
                    "loss": loss.item(),
                    "lr": lr,
                    "grad_norm": grad_norm.item(),
                    "tokens_per_s": tokens_per_s,
                    "mfu": flops * tokens_per_s / (config.train.peak_flops * world.size),
                    "memory_gib": memory_gib(world.device),
                    "skipped_steps": state["skipped_steps"],
                }
                clock, tokens_since = time.perf_counter(), 0
            val_every = config.train.val_every
            if (val_every and step % val_every == 0) or step == config.train.steps:
                row = {"step": step, **row, **validate(model, val_windows, config, world)}
            if row:
                log.log(row)
                last = row
            every = config.checkpoint.every
            if (every and step % every == 0) or step == config.train.steps:
                save(step)
        if resumed_from is not None and step == start:  # nothing left to train
            last = {"step": step, **validate(model, val_windows, config, world)}
    finally:
        loader.close()
        log.close()
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.train",
        description="Run one rank of a resolved training config (tokenmill train writes one).",
    )
    parser.add_argument("config", help="resolved training config YAML (e.g. RUN/config.yaml)")
    parser.add_argument("--resume", default="auto", help="auto, none, or a checkpoint folder")
    args = parser.parse_args(argv)
    try:
        result = train(read_train_config(args.config), resume=args.resume)
    except TrainingError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"final: {result}", flush=True)
    return 0 if all(math.isfinite(v) for v in result.values() if isinstance(v, float)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
