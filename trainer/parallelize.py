"""Process group, device, and how the model is wrapped: FSDP2, activation checkpointing, compile."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

from trainer.config import ParallelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(config: ParallelConfig) -> World:
    """Join the process group torchrun or Ray Train set up (gloo on CPU, nccl on GPU)."""
    cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    rank = dist.get_rank() if dist.is_initialized() else 0
    size = dist.get_world_size() if dist.is_initialized() else 1
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return World(rank, size, torch.device("cuda", local))
    return World(rank, size, torch.device("cpu"))


def parallelize(model: nn.Module, config: ParallelConfig, world: World) -> nn.Module:
    """Wrap each block (checkpointing, compile) and shard blocks and root with FSDP2."""
    for index, block in enumerate(model.layers):
        if config.activation_checkpointing:
            block = checkpoint_wrapper(block, preserve_rng_state=False)
        if config.compile:
            block = torch.compile(block)
        model.layers[index] = block
    if world.distributed:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(
            param_dtype=DTYPES[config.param_dtype], reduce_dtype=DTYPES[config.reduce_dtype]
        )
        for block in model.layers:
            fully_shard(block, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
    return model


def autocast(config: ParallelConfig, world: World):
    """One process computes in `param_dtype` through autocast; FSDP2 casts parameters itself."""
    enabled = not world.distributed and config.param_dtype != "float32"
    return torch.autocast(world.device.type, dtype=DTYPES[config.param_dtype], enabled=enabled)
