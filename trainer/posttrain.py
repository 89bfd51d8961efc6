"""Post-training runs (`tokenmill sft|reward|dpo|grpo`): the pre-training `Trainer` with chat
data, a starting model (`init_from`), optional LoRA adapters and the kind's objective; GRPO's
trainer samples its own batches (`GRPOTrainer`).

`python -m trainer.posttrain RUN/config.yaml` runs a resolved config on one rank, as
`trainer.train` does for pre-training; torchrun and Ray Train start it the same way.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from trainer.chat import END_ID, EOS_ID
from trainer.chat_data import ExampleBatch, ExampleLoader, Rows, pack
from trainer.config import PosttrainConfig, RunInput, TrainConfig, TrainConfigError
from trainer.errors import TrainingError
from trainer.generate import Completions, Sampling, generate_batch
from trainer.lora import add_adapters, reset_adapters
from trainer.model import Transformer
from trainer.model_args import ModelArgs
from trainer.objectives import DPO, GRPO, SFT, Objective, Reward, sequence_logprobs
from trainer.parallelize import DTYPES
from trainer.posttrain_data import (
    load_tokenizer,
    nothing_to_train_on,
    read_data,
    tokenizer_location,
)
from trainer.rollout import completion_rows, frozen_copy, group_advantages, reference_logprobs
from trainer.storage import Location, is_url
from trainer.train import Trainer, run_rank, run_to_the_end
from trainer.verifiers import resolve_verifier, reward


def objective_for(config: PosttrainConfig) -> Objective:
    if config.kind == "sft":
        return SFT()
    if config.kind == "reward":
        return Reward()
    if config.kind == "grpo":
        return GRPO(config.grpo.clip, config.grpo.beta)
    dpo = config.dpo
    return DPO(dpo.beta, dpo.loss, dpo.length_normalize)


def report_count(count: int, what: str) -> None:
    if count and int(os.environ.get("RANK", "0")) == 0:
        print(f"{count} {what}", flush=True)


class PosttrainTrainer(Trainer):
    """SFT packs conversations into rows; reward and DPO read one pair per row. DPO's
    reference log-probs are computed once from the starting model, before any resume, and
    stored beside the pairs (no second model in memory)."""

    config: PosttrainConfig

    def __init__(self, config: PosttrainConfig, resume: str = "auto") -> None:
        self.config = config
        self.tokenizer = load_tokenizer(config)
        self.data = read_data(config, self.tokenizer)
        for count, what in self.data.left_out:
            report_count(count, what)
        if why := nothing_to_train_on(config, self.data):
            raise TrainingError(why)
        super().__init__(config, resume, objective_for(config))

    def tokenizer_file(self) -> Location:
        return tokenizer_location(self.config)

    def model_args(self, vocab_size: int) -> ModelArgs:
        args = super().model_args(vocab_size)
        return dataclasses.replace(args, num_labels=int(self.config.kind == "reward"))

    def adapt(self, model: Transformer) -> Transformer:
        return add_adapters(model, self.config.lora) if self.config.lora else model

    def start_from(self, model: nn.Module) -> None:
        if self.config.lora:
            reset_adapters(model, self.config.train.seed)
        super().start_from(model)
        if self.config.kind == "dpo":
            self.data.pairs = self.with_reference(self.data.pairs)
            self.data.val_rows = self.with_reference(self.data.val_rows)

    def checkpoint_meta(self) -> dict[str, Any]:
        meta = super().checkpoint_meta()
        if not self.config.lora:
            return meta
        base = self.config.init_from
        if not is_url(base):  # so that export and generate find it from any folder
            base = str(Path(base).resolve())
        return {**meta, "lora": dataclasses.asdict(self.config.lora), "base": base}

    def training_runs(self) -> list[RunInput]:
        return []  # chat data, not token runs: nothing for a continued pre-training to replay

    @torch.no_grad()
    def with_reference(self, rows: Rows) -> Rows:
        """`rows` with `reference`: the starting model's log-probs of each pair's answers."""
        self.model.eval()
        normalize = self.config.dpo.length_normalize
        parts = [
            sequence_logprobs(self.model, batch, normalize).cpu()
            for batch in self.micro_batches(rows)
        ]
        # Before the optimizer exists: left unsharded, model.parameters() would hand it copies
        # that the training steps never update (DPO did not learn until this was here).
        self.model.reshard()
        self.model.train()
        reference = torch.cat(parts).numpy() if parts else np.zeros((0, 2), np.float32)
        return Rows({**rows.arrays, "reference": reference})

    def micro_batches(self, rows: Rows):
        device = self.world.device
        for batch in rows.micro_batches(self.config.train.micro_batch_size):
            yield {name: tensor.to(device) for name, tensor in batch.items()}

    def epoch_rows(self, order: np.ndarray) -> Rows:
        """An epoch's rows from the examples in `order`: SFT's packed, or the pairs."""
        if self.config.kind == "sft":
            return pack([self.data.examples[i] for i in order], self.config.data.seq_len)
        return self.data.pairs.take(order)

    def build_loader(self, state: dict | None) -> ExampleLoader:
        config, world = self.config, self.world
        sft = config.kind == "sft"
        loader = ExampleLoader(
            self.epoch_rows,
            self.data.train_count,
            config.sequences_per_step(),
            config.train.micro_batch_size,
            unit="weights" if sft else None,
            rank=world.rank,
            world_size=world.size,
            seed=config.train.seed,
            state=state,
        )
        self.set_steps(loader)
        return loader

    def set_steps(self, loader: ExampleLoader) -> None:
        """`train.steps` from `train.epochs` when it is 0."""
        config = self.config
        if not config.train.steps:
            steps = math.ceil(config.train.epochs * loader.steps_per_epoch())
            self.config = dataclasses.replace(
                config, train=dataclasses.replace(config.train, steps=steps)
            )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The objective's loss and metrics per unit over the held-out examples (every rank
        evaluates all of them: FSDP needs the ranks in step)."""
        if not len(self.data.val_rows):
            return {}
        self.model.eval()
        sums: dict[str, float] = {}
        for batch in self.micro_batches(self.data.val_rows):
            loss, count, metrics = self.objective.loss(self.model, batch)
            for key, value in {"loss": loss, "count": count, **metrics}.items():
                sums[key] = sums.get(key, 0.0) + value.item()
        self.model.reshard()
        self.model.train()
        count = sums.pop("count")
        return {f"val_{key}": value / count for key, value in sums.items()}


class GRPOTrainer(PosttrainTrainer):
    """GRPO: each step samples `grpo.group_size` completions for each of its prompts with the
    policy being trained, rewards them with the verifier, normalises the rewards within each
    prompt's group and takes one optimizer step on the clipped objective with a KL penalty to
    the starting model (`objectives.GRPO`). The reference is a frozen copy of the starting
    model, taken before any resume. Held-out prompts are answered greedily: `val_reward`.

    A step's completions are `train.global_batch_tokens / data.seq_len`, so its prompts are
    that / `group_size`; the loss is divided by the step's count of completion tokens."""

    def __init__(self, config: PosttrainConfig, resume: str = "auto") -> None:
        self.verifier = resolve_verifier(config.grpo.verifier)
        super().__init__(config, resume)

    def start_from(self, model: nn.Module) -> None:
        super().start_from(model)
        self.dtype = DTYPES[self.config.parallel.param_dtype]
        self.reference = frozen_copy(model, self.args, self.world.device, self.dtype)

    def build_loader(self, state: dict | None) -> ExampleLoader:
        config, world = self.config, self.world
        prompts = config.sequences_per_step() // config.grpo.group_size
        if prompts % world.size:
            raise TrainConfigError(
                f"grpo.group_size: {prompts} prompts per step do not split over {world.size} ranks"
            )
        loader = ExampleLoader(
            lambda order: Rows({"index": order}),
            len(self.data.prompts),
            prompts,
            prompts // world.size,
            unit=None,
            rank=world.rank,
            world_size=world.size,
            seed=config.train.seed,
            state=state,
        )
        self.set_steps(loader)
        return loader

    def sampling(self, greedy: bool = False) -> Sampling:
        grpo = self.config.grpo
        temperature = 0.0 if greedy else grpo.temperature
        return Sampling(grpo.max_new_tokens, temperature, grpo.top_p, (EOS_ID, END_ID))

    @torch.no_grad()
    def sample(
        self, prompts: list[list[int]], sampling: Sampling, seed: int, group: int = 1
    ) -> Completions:
        """`group` completions of each prompt from the policy as it is (FSDP's forwards, in
        its compute dtype)."""
        generator = torch.Generator(device=self.world.device).manual_seed(seed)
        self.model.eval()
        done = generate_batch(self.model, prompts, sampling, generator, self.dtype, group)
        self.model.reshard()  # as after validation: the optimizer holds the sharded parameters
        self.model.train()
        return done

    def sampling_seed(self) -> int:
        """(train.seed, step, rank): a resumed run samples what an uninterrupted one did."""
        entropy = [self.config.train.seed, self.step + 1, self.world.rank]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def rewards(self, done: Completions, records: list[dict]) -> torch.Tensor:
        texts = (self.tokenizer.decode(done.ids(row)) for row in range(len(records)))
        name = self.config.grpo.verifier
        return torch.tensor(
            [
                reward(self.verifier, name, text, record)
                for text, record in zip(texts, records, strict=True)
            ]
        )

    def train_step(self, batch: ExampleBatch, lr: float) -> dict[str, torch.Tensor]:
        """Sample and score this rank's completions, then the `Trainer`'s step on them."""
        world, group = self.world, self.config.grpo.group_size
        indices = np.concatenate([micro["index"].numpy() for micro in batch.micro_batches()])
        prompts = [self.data.prompts[i] for i in indices]
        records = [self.data.records[i] for i in indices for _ in range(group)]
        clock = time.perf_counter()
        done = self.sample(prompts, self.sampling(), self.sampling_seed(), group)
        generated = _synchronized(world.device)
        rewards = self.rewards(done, records)
        rows = completion_rows([ids for ids in prompts for _ in range(group)], done)
        micro = self.config.train.micro_batch_size
        reference = reference_logprobs(self.reference, rows.micro_batches(micro), world.device)
        rows = Rows(
            {
                **rows.arrays,
                "ref_logprobs": reference,
                "advantages": group_advantages(rewards, group).numpy(),
            }
        )
        sums = [float(rows.arrays["weights"].sum()), float(rewards.sum()), float(len(rewards))]
        totals = torch.tensor(sums, device=world.device)
        if world.distributed:
            dist.all_reduce(totals)
        tokens, reward, completions = totals.tolist()
        step = ExampleBatch(rows.micro_batches(micro), tokens, batch.state)
        result = super().train_step(step, lr)
        device = world.device
        return {
            **result,
            "reward": torch.tensor(reward / completions, device=device),
            "completion_tokens": torch.tensor(tokens / completions, device=device),
            "generation_s": torch.tensor(generated - clock, device=device),
            "update_s": torch.tensor(_synchronized(device) - generated, device=device),
        }

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Greedy answers to the held-out prompts: their mean reward and length (every rank
        answers all of them, in batches of a step's completions per rank)."""
        if not self.data.val_prompts:
            return {}
        size = self.config.sequences_per_step() // self.world.size
        rewards, lengths = [], []
        for start in range(0, len(self.data.val_prompts), size):
            prompts = self.data.val_prompts[start : start + size]
            done = self.sample(prompts, self.sampling(greedy=True), seed=0)
            rewards.append(self.rewards(done, self.data.val_records[start : start + size]))
            lengths.append(done.lengths.float().cpu())
        return {
            "val_reward": torch.cat(rewards).mean().item(),
            "val_completion_tokens": torch.cat(lengths).mean().item(),
        }


def _synchronized(device: torch.device) -> float:
    """The clock once the device has done what it was given."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def trainer_for(config: PosttrainConfig, resume: str = "auto") -> PosttrainTrainer:
    return (GRPOTrainer if config.kind == "grpo" else PosttrainTrainer)(config, resume)


def train(config: PosttrainConfig, resume: str = "auto") -> dict[str, Any]:
    """Post-train to `train.steps` (or `train.epochs`), resuming from a checkpoint."""
    return run_to_the_end(trainer_for(config, resume))


def main(argv: list[str] | None = None) -> int:
    return run_rank(
        argv,
        "python -m trainer.posttrain",
        "Run one rank of a resolved post-training config (tokenmill sft|reward|dpo writes one).",
        _posttrain,
    )


def _posttrain(config: TrainConfig, resume: str) -> dict[str, Any]:
    if not isinstance(config, PosttrainConfig):
        raise TrainingError(
            "the config has no `kind`; a pre-training config runs with trainer.train"
        )
    return train(config, resume=resume)


if __name__ == "__main__":
    raise SystemExit(main())
