"""Post-training runs (`tokenmill sft|reward|dpo`): the pre-training `Trainer` with chat data,
a starting model (`init_from`), optional LoRA adapters and the kind's objective.

`python -m trainer.posttrain RUN/config.yaml` runs a resolved config on one rank, as
`trainer.train` does for pre-training; torchrun and Ray Train start it the same way.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from trainer.chat_data import (
    ExampleLoader,
    Rows,
    pack,
    preference_rows,
    read_records,
    sft_examples,
)
from trainer.config import PosttrainConfig, RunInput, TrainConfig
from trainer.errors import TrainingError
from trainer.lora import add_adapters, reset_adapters
from trainer.model import Transformer
from trainer.model_args import ModelArgs
from trainer.objectives import DPO, SFT, Objective, Reward, sequence_logprobs
from trainer.start import start_tokenizer
from trainer.storage import Location, is_url, location
from trainer.train import Trainer, run_rank, run_to_the_end


def objective_for(config: PosttrainConfig) -> Objective:
    if config.kind == "sft":
        return SFT()
    if config.kind == "reward":
        return Reward()
    dpo = config.dpo
    return DPO(dpo.beta, dpo.loss, dpo.length_normalize)


def tokenizer_location(config: PosttrainConfig) -> Location:
    if config.data.tokenizer:
        return location(config.data.tokenizer)
    return start_tokenizer(config.init_from)


def split_records(config: PosttrainConfig) -> tuple[list[dict], list[dict]]:
    """Training and held-out records: `data.val`, or the first `val_examples` of a shuffle."""
    data = config.data
    records = read_records(data.train)
    if data.val:
        train, val = records, read_records(data.val)[: data.val_examples or None]
    else:
        order = np.random.default_rng(config.train.seed).permutation(len(records))
        shuffled = [records[i] for i in order]
        train, val = shuffled[data.val_examples :], shuffled[: data.val_examples]
    return train[: data.max_examples], val


class PosttrainTrainer(Trainer):
    """SFT packs conversations into rows; reward and DPO read one pair per row. DPO's
    reference log-probs are computed once from the starting model, before any resume, and
    stored beside the pairs (no second model in memory)."""

    config: PosttrainConfig

    def __init__(self, config: PosttrainConfig, resume: str = "auto") -> None:
        tokenizer = Tokenizer.from_str(tokenizer_location(config).read_text())
        train, val = split_records(config)
        seq_len = config.data.seq_len
        if config.kind == "sft":
            data = config.data
            self.examples = sft_examples(train, tokenizer, data.prompt_key, data.response_key)
            self.val_rows = pack(
                sft_examples(val, tokenizer, data.prompt_key, data.response_key), seq_len
            )
        else:
            self.pairs = preference_rows(train, tokenizer, seq_len)
            self.val_rows = preference_rows(val, tokenizer, seq_len)
            left_out = len(train) + len(val) - len(self.pairs) - len(self.val_rows)
            if left_out and int(os.environ.get("RANK", "0")) == 0:
                print(
                    f"{left_out} of {len(train) + len(val)} pairs left out: malformed, or no "
                    f"answer within data.seq_len {seq_len}",
                    flush=True,
                )
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
            self.pairs = self.with_reference(self.pairs)
            self.val_rows = self.with_reference(self.val_rows)

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
            return pack([self.examples[i] for i in order], self.config.data.seq_len)
        return self.pairs.take(order)

    def build_loader(self, state: dict | None) -> ExampleLoader:
        config, world = self.config, self.world
        sft = config.kind == "sft"
        loader = ExampleLoader(
            self.epoch_rows,
            len(self.examples) if sft else len(self.pairs),
            config.sequences_per_step(),
            config.train.micro_batch_size,
            unit="weights" if sft else None,
            rank=world.rank,
            world_size=world.size,
            seed=config.train.seed,
            state=state,
        )
        if not config.train.steps:
            steps = math.ceil(config.train.epochs * loader.steps_per_epoch())
            self.config = dataclasses.replace(
                config, train=dataclasses.replace(config.train, steps=steps)
            )
        return loader

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The objective's loss and metrics per unit over the held-out examples (every rank
        evaluates all of them: FSDP needs the ranks in step)."""
        if not len(self.val_rows):
            return {}
        self.model.eval()
        sums: dict[str, float] = {}
        for batch in self.micro_batches(self.val_rows):
            loss, count, metrics = self.objective.loss(self.model, batch)
            for key, value in {"loss": loss, "count": count, **metrics}.items():
                sums[key] = sums.get(key, 0.0) + value.item()
        self.model.reshard()
        self.model.train()
        count = sums.pop("count")
        return {f"val_{key}": value / count for key, value in sums.items()}


def train(config: PosttrainConfig, resume: str = "auto") -> dict[str, Any]:
    """Post-train to `train.steps` (or `train.epochs`), resuming from a checkpoint."""
    return run_to_the_end(PosttrainTrainer(config, resume))


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
