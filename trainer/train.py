"""The training loop, in torchtitan's shape: a `Trainer` with `forward_backward_step`,
`train_step` and `train`, one objective hook (`trainer.objectives`), a checkpointer.

`python -m trainer.train RUN/config.yaml` runs a resolved config (the `tokenmill train`
command writes it after applying `--set`); under torchrun every rank runs this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from tokenizers import Tokenizer
from torch import nn

from trainer.checkpoint import Checkpointer, CheckpointError, read_meta
from trainer.config import RunInput, TrainConfig, TrainConfigError, read_train_config
from trainer.data import Batch, Loader, check_shards, train_shards, validation_windows
from trainer.errors import TrainingError
from trainer.interrupts import interrupted, interruptible, raise_if_interrupted
from trainer.loss import linear_cross_entropy
from trainer.metrics import MetricsLog, memory_gib
from trainer.mixture import recordable, training_mixture
from trainer.model import Transformer, flops_per_token, parameter_count
from trainer.model_args import ModelArgs
from trainer.objectives import Objective, Pretraining
from trainer.optim import build_optimizer, clip_grad_norm, first_different_lr, lr_at
from trainer.parallelize import World, close_world, init_world, materialize, parallelize
from trainer.rank_errors import tell_error
from trainer.start import StartError, load_start, start_args, start_tokenizer
from trainer.storage import Location, location


def tokenizer_path(config: TrainConfig) -> Location:
    """The runs' tokenizer: every run the steps draw from must have been tokenized with the
    same one, and a continued pre-training's start must use it too."""
    runs = training_mixture(config.data, config.init_from)
    paths = [location(run.path) / "tokenizer" / "tokenizer.json" for run in runs]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"data.runs: {path}: tokenizer not found")
    differing = [path for path in paths[1:] if path.read_bytes() != paths[0].read_bytes()]
    if differing:
        raise TrainingError(
            f"data.runs: {differing[0]} is not {paths[0]}: the steps draw from every run, so "
            "all must be tokenized with one tokenizer (`tokenizer: {path: ...}` in their configs)"
        )
    if config.init_from:
        refuse_other_vocabulary(start_tokenizer(config.init_from), paths[0])
    return paths[0]


def refuse_other_vocabulary(start: Location, runs: Location) -> None:
    """Continued pre-training reads the new runs' ids with the start's embeddings: the two
    tokenizers must give every token the same id."""
    vocab = [
        Tokenizer.from_str(path.read_text(encoding="utf-8")).get_vocab() for path in (start, runs)
    ]
    if vocab[0] != vocab[1]:
        raise StartError(
            f"init_from: its tokenizer ({start}) is not the one the runs were tokenized with "
            f"({runs}); tokenize the new sources with `tokenizer: {{path: {start}}}`"
        )


def weights_finite(model: nn.Module, world: World) -> bool:
    """Whether every weight on every rank is a finite number (a NaN or inf in any shard
    spreads to every output at the next step)."""
    local = [p.to_local() if hasattr(p, "to_local") else p for p in model.parameters()]
    largest = torch.stack(torch._foreach_norm([t.detach() for t in local], ord=math.inf))
    not_finite = (~torch.isfinite(largest)).sum()
    return _reduce_sum(not_finite, world).item() == 0


def _reduce_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


class Trainer:
    """One run: the model, optimizer, loader and checkpointer a config describes, and the loop.

    `objective` says what a micro-batch's loss is (pre-training by default); the loop,
    accumulation, clipping, FSDP, checkpoints and logs are the same for every objective.
    """

    def __init__(
        self, config: TrainConfig, resume: str = "auto", objective: Objective | None = None
    ) -> None:
        self.config = config
        self.objective = objective or Pretraining(config.train.z_loss)
        self._deterministic_before = torch.are_deterministic_algorithms_enabled()
        try:
            if config.train.deterministic:  # before CUDA starts: cuBLAS reads its workspace size
                deterministic()
            self.world = init_world(config.parallel)
            self._build(resume)
        except BaseException:
            self.close()
            raise

    def _build(self, resume: str) -> None:
        config, world = self.config, self.world
        self.run = run = Path(config.output)
        run.mkdir(parents=True, exist_ok=True)
        if world.is_main:
            (run / "config.yaml").write_text(yaml.safe_dump(config.to_dict()), encoding="utf-8")
        torch.manual_seed(config.train.seed)

        tokenizer = self.tokenizer_file()
        vocab = Tokenizer.from_str(tokenizer.read_text(encoding="utf-8")).get_vocab_size()
        self.args = args = self.model_args(vocab)
        with torch.device("meta"):
            model = self.adapt(Transformer(args))
        model = parallelize(model, config.parallel, world)
        self.model = materialize(model, world, config.train.seed)
        self.start_from(self.model)
        self.optimizer = build_optimizer(self.model, config.train)
        self.accumulation = config.accumulation_steps(world.size)
        self.checkpointer = Checkpointer(
            config.checkpoint_folder(),
            world,
            args,
            tokenizer,
            config.checkpoint.keep,
            self.checkpoint_meta(),
        )

        self.step, self.resumed_from = 0, None
        self.skipped_steps = torch.zeros((), dtype=torch.int64, device=world.device)
        self.skipped_in_a_row = torch.zeros((), dtype=torch.int64, device=world.device)
        loader_state = None
        own = self.checkpointer.candidates(resume)
        candidates = own or ([self.branch_point()] if config.branch_from else [])
        # A run that starts from another run's model validates it first (step 0 of a
        # continued pre-training, the branch's step), so its metrics show where it began.
        self.validate_first = not own and bool(config.init_from or config.branch_from)
        if candidates:
            self.resumed_from, state = self.checkpointer.restore(
                candidates, self.model, self.optimizer
            )
            self.step = state["step"]
            self.skipped_steps += state["skipped_steps"]
            loader_state = state["loader"]
        self.loader = self.build_loader(loader_state)
        self.flops = flops_per_token(args, config.data.seq_len)

    # The hooks a post-training run overrides (trainer.posttrain): where the tokenizer and the
    # model's shape come from, what is done to the model before and after it is materialised,
    # the loader, validation and what a checkpoint's meta.json records besides the model.

    def tokenizer_file(self) -> Location:
        return tokenizer_path(self.config)

    def model_args(self, vocab_size: int) -> ModelArgs:
        config = self.config
        if config.init_from:
            return start_args(config, self.tokenizer_file())
        return config.model.args(vocab_size)

    def adapt(self, model: Transformer) -> Transformer:
        """The model on the meta device, before it is wrapped (e.g. LoRA adapters added)."""
        return model

    def start_from(self, model: nn.Module) -> None:
        """After the fresh weights are drawn: load the starting model (`init_from`), if any."""
        if self.config.init_from:
            load_start(model, self.config.init_from)

    def checkpoint_meta(self) -> dict[str, Any]:
        """What meta.json records besides the model: the schedule, which a resume keeps,
        and the mixture, which a continued pre-training may replay."""
        schedule = self.config.train.schedule_settings()
        return {"schedule": schedule, "mixture": recordable(self.training_runs())}

    def training_runs(self) -> list[RunInput]:
        """The token runs the steps draw from, by weight (`trainer.mixture`)."""
        return training_mixture(self.config.data, self.config.init_from)

    def branch_point(self) -> Location:
        """`branch_from`'s checkpoint, once this run's schedule gives the learning rates its
        run used up to its step (a WSD decay branches off the stable phase)."""
        path = location(self.config.branch_from)
        try:
            meta = read_meta(path)
        except FileNotFoundError as err:
            raise CheckpointError(f"branch_from: {err}") from None
        section = self.config.train
        before = dataclasses.replace(section, **meta.get("schedule", {}))
        step = meta["step"]
        differs = first_different_lr(before, section, step)
        if differs is not None:
            raise CheckpointError(
                f"branch_from {path}: the learning rate at step {differs} would be "
                f"{lr_at(differs, section):.3g}, but its run used {lr_at(differs, before):.3g}; "
                f"a branch keeps its checkpoint's schedule up to step {step} (a WSD decay "
                f"branch: schedule wsd with the decay starting at step {step} or later)"
            )
        return path

    def build_loader(self, state: dict | None):
        config, world = self.config, self.world
        runs = [(location(r.path), r.weight) for r in self.training_runs()]
        shards = {path: train_shards(path) for path, _ in runs}
        for path in shards:
            check_shards(path, config.data.verify_checksums)
        self.val_windows = validation_windows(
            [p for p, _ in runs], config.data.seq_len, config.data.val_tokens
        )
        if not self.val_windows and world.is_main:
            print(
                f"validation: none; no source of the runs holds the {config.data.seq_len + 1} "
                "validation tokens a window needs (a run made with mixture.validation 0 holds "
                "none)",
                file=sys.stderr,
                flush=True,
            )
        return Loader(
            [(shards[path], weight) for path, weight in runs],
            config.data.seq_len,
            config.sequences_per_step(),
            config.train.micro_batch_size,
            rank=world.rank,
            world_size=world.size,
            seed=config.train.seed,
            prefetch=config.data.prefetch,
            state=state,
            pin_memory=world.device.type == "cuda",
        )

    def forward_backward_step(
        self, batch: dict[str, torch.Tensor], scale: float
    ) -> dict[str, torch.Tensor]:
        """One micro-batch: the objective's summed loss, back-propagated times `scale`;
        returns the loss and metrics sums, detached."""
        loss, _count, metrics = self.objective.loss(self.model, batch)
        (loss * scale).backward()
        return {"loss": loss.detach(), **metrics}

    def train_step(self, batch: Batch, lr: float) -> dict[str, torch.Tensor]:
        """One optimizer step over a rank's micro-batches: the loss (and the objective's
        metrics) per unit of the global batch, and the gradient norm (tensors, left on the
        device until a logged step reads them).

        Each micro-batch's summed loss is divided by the global batch's unit count
        (`batch.count`), and multiplied by the number of ranks, which FSDP's gradient
        reduction averages over: the gradient is that of the sum over all units / their count.

        A step whose loss or gradient norm is not finite is skipped by the optimizer itself
        (fused AdamW's `found_inf`, as a gradient scaler uses it), so nothing waits for the
        device to say whether it was."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        device = self.world.device
        scale = self.world.size / batch.count
        sums: dict[str, torch.Tensor] = {}
        for micro in batch.micro_batches():
            micro = {k: v.to(device, non_blocking=True) for k, v in micro.items()}
            for key, value in self.forward_backward_step(micro, scale).items():
                sums[key] = sums.get(key, 0) + value
        grad_norm = clip_grad_norm(self.model, self.config.train.grad_clip, self.world.distributed)
        result = {key: _reduce_sum(value, self.world) / batch.count for key, value in sums.items()}
        loss = result["loss"]
        found_inf = (~torch.isfinite(loss) | ~torch.isfinite(grad_norm)).float()
        self.optimizer.found_inf = found_inf
        self.optimizer.step()
        self.skipped_steps += found_inf.long()
        self.skipped_in_a_row = (self.skipped_in_a_row + 1) * found_inf.long()
        self.optimizer.zero_grad(set_to_none=True)
        return {**result, "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss per source; every rank evaluates all windows (FSDP needs them in step)."""
        model, world = self.model, self.world
        model.eval()
        result, total, count = {}, 0.0, 0
        for source, data in self.val_windows.items():
            loss_sum = torch.zeros((), device=world.device)
            for batch in data.split(self.config.train.micro_batch_size):
                batch = batch.to(world.device)
                hidden = model(batch[:, :-1])
                loss = linear_cross_entropy(
                    hidden.flatten(0, 1), model.lm_head.weight, batch[:, 1:].flatten()
                )
                loss_sum += loss * len(batch)
            result[f"val_loss/{source}"] = loss_sum.item() / len(data)
            total, count = total + loss_sum.item(), count + len(data)
        if count:
            result["val_loss"] = total / count
        # FSDP2 keeps the root's parameters unsharded after a forward (a backward would reshard
        # them); reshard, so that model.parameters() are again the sharded ones the optimizer
        # and checkpoints hold.
        model.reshard()
        model.train()
        return result

    def refuse_divergence(self, step: int, trained: int) -> None:
        """Stop a run that cannot recover, before it logs or saves more: weights that are not
        finite (every later loss is NaN), `max_skipped_in_a_row` skipped steps in a row, or
        a run that ends having skipped each of the `trained` steps it took (its model is the
        one it started from)."""
        section = self.config.train
        in_a_row = int(self.skipped_in_a_row.item())
        limit = section.max_skipped_in_a_row
        if step == section.steps:
            limit = min(limit, trained)
        if not weights_finite(self.model, self.world):
            problem = f"the weights are no longer finite numbers after step {step}"
        elif in_a_row >= limit:
            problem = (
                f"the loss or gradient norm was not finite in the {in_a_row} steps up to step "
                f"{step} (each one skipped)"
            )
        else:
            return
        latest = self.checkpointer.finish() or next(
            iter(self.checkpointer.candidates("auto")), None
        )
        raise TrainingError(
            f"training diverged: {problem}; nothing is saved from here (train.lr is "
            f"{section.lr:g}: a lower one, a longer train.warmup_steps or a smaller train.grad_clip "
            "may help)" + (f"; the latest checkpoint is {latest}" if latest else "")
        )

    def checked_validation(self, step: int) -> dict[str, float]:
        """`validate()`'s metrics, or a TrainingError where one is not a finite number: the
        model or the objective gives NaN or inf, and every later step would be skipped."""
        metrics = self.validate()
        broken = {key: value for key, value in metrics.items() if not math.isfinite(value)}
        if broken:
            values = ", ".join(f"{key} {value}" for key, value in broken.items())
            raise TrainingError(
                f"the validation at step {step} is not finite ({values}): the model's weights or "
                "the objective's settings (a β far too large or small) give NaN or inf on "
                "held-out data; nothing is saved from here"
            )
        return metrics

    def save(self, step: int) -> None:
        if self.skipped_in_a_row.item():  # keep the older checkpoints of a run that may diverge
            if self.world.is_main:
                print(f"step {step}: not saved, the step was skipped", file=sys.stderr, flush=True)
            return
        state = {"loader": self.loader.state, "skipped_steps": int(self.skipped_steps.item())}
        self.checkpointer.save(step, self.model, self.optimizer, state)

    def train(self) -> dict[str, Any]:
        """Train to `train.steps` from where the checkpoint left off; the last metrics.

        Throughput (tokens/s, MFU) counts training only: the time spent validating and
        starting or finishing checkpoint saves is left out of each window."""
        config, world, section = self.config, self.world, self.config.train
        start = self.step
        log = MetricsLog(self.run, world.is_main, section.steps, start)
        if world.is_main:
            counts = parameter_count(self.args)
            print(
                f"model: {counts['total']:,} parameters ({counts['matmul']:,} in matmuls), "
                f"{self.flops:,.0f} FLOPs/token; {world.size} rank(s), "
                f"{self.accumulation} micro-batch(es)/step"
                + (f"; resumed from {self.resumed_from}" if self.resumed_from else ""),
                flush=True,
            )
        last: dict[str, Any] = {"step": start}
        if self.validate_first:
            last = {"step": start, **self.checked_validation(start)}
            log.log(last)
        clock, tokens_since, paused = time.perf_counter(), 0, 0.0
        step = start
        try:
            for step in range(start + 1, section.steps + 1):
                raise_if_interrupted()
                lr = lr_at(step, section)
                result = self.train_step(next(self.loader), lr)
                self.step = step
                tokens_since += section.global_batch_tokens
                log.advance()

                row: dict[str, Any] = {}
                every = config.checkpoint.every
                logged = step % section.log_every == 0 or step == section.steps
                saved = config.checkpoint.enabled and (
                    (every and step % every == 0) or step == section.steps
                )
                if logged or saved:
                    self.refuse_divergence(step, trained=step - start)
                if logged:
                    loss, grad_norm = result.pop("loss").item(), result.pop("grad_norm").item()
                    elapsed = time.perf_counter() - clock - paused
                    tokens_per_s = tokens_since / elapsed
                    row = {
                        "step": step,
                        "loss": loss,
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "tokens_per_s": tokens_per_s,
                        "mfu": self.flops * tokens_per_s / (section.peak_flops * world.size),
                        "memory_gib": memory_gib(world.device),
                        "skipped_steps": int(self.skipped_steps.item()),
                        **{key: value.item() for key, value in result.items()},
                    }
                    clock, tokens_since, paused = time.perf_counter(), 0, 0.0
                    self.checkpointer.finish()  # the save in flight, if any, is complete
                    paused += time.perf_counter() - clock
                aside = time.perf_counter()
                val_every = section.val_every
                if (val_every and step % val_every == 0) or step == section.steps:
                    row = {"step": step, **row, **self.checked_validation(step)}
                if row:
                    log.log(row)
                    last = row
                if saved:
                    self.save(step)
                paused += time.perf_counter() - aside
            self.checkpointer.finish()
            if self.resumed_from is not None and step == start:  # nothing left to train
                last = {"step": step, **self.checked_validation(step)}
        finally:
            log.close()
        return last

    def close(self) -> None:
        """Stop the loader, and leave the process group and settings as they were found."""
        if getattr(self, "loader", None) is not None:
            self.loader.close()
        torch.use_deterministic_algorithms(self._deterministic_before)
        if getattr(self, "world", None) is not None:
            close_world(self.world)


def deterministic() -> None:
    """`train.deterministic`: the same losses on every run and resume, on a GPU too.

    cuBLAS with a fixed workspace, cuDNN without autotuning, and PyTorch's deterministic
    kernels (attention's backward among them); the cost is speed, 13-14 % on an H200."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)


def train(
    config: TrainConfig, resume: str = "auto", objective: Objective | None = None
) -> dict[str, Any]:
    """Train to `train.steps`, resuming from a checkpoint; return the last metrics."""
    return run_to_the_end(Trainer(config, resume, objective))


def run_to_the_end(trainer: Trainer) -> dict[str, Any]:
    """`trainer.train()`, its loader and process group closed however it ends."""
    try:
        with interruptible():
            return trainer.train()
    finally:
        trainer.close()


def main(argv: list[str] | None = None) -> int:
    return run_rank(
        argv,
        "python -m trainer.train",
        "Run one rank of a resolved training config (tokenmill train writes one).",
        lambda config, resume: train(config, resume=resume),
    )


def run_rank(
    argv: list[str] | None,
    prog: str,
    description: str,
    run: Callable[[TrainConfig, str], dict[str, Any]],
) -> int:
    """A rank's command line (what torchrun starts): `run` the resolved config; a
    TrainingError, a config it cannot read or use, or the machine refusing a file (a full
    disk) is one line and exit code 1; Ctrl-C is exit code 130, without a traceback."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("config", help="resolved config YAML (e.g. RUN/config.yaml)")
    parser.add_argument("--resume", default="auto", help="auto, none, or a checkpoint folder")
    args = parser.parse_args(argv)
    try:
        result = run(read_train_config(args.config), args.resume)
    except KeyboardInterrupt:  # Ctrl-C, which torchrun passes on: the launcher says so
        return 130
    except Exception as err:
        if interrupted():  # a rank that stopped first closed the collectives this one was in
            return 130
        if isinstance(err, TrainingError | TrainConfigError | OSError):
            tell_error(str(err))
            return 1
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"final: {result}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
