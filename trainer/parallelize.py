"""Process group, device, and how the model is wrapped: FSDP2, activation checkpointing, compile.

Every run is FSDP2, a single process too (a group of one), so one GPU and many compute alike:
parameters in `param_dtype`, gradients reduced in `reduce_dtype`, no autocast anywhere. The
model is built on the meta device, wrapped, then materialised on this rank's device with only
its own shard of each parameter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from trainer.config import ParallelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device
    owns_group: bool = False
    """This process started the process group (and ends it in `close_world`)."""

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(config: ParallelConfig) -> World:
    """Join the process group torchrun or Ray Train set up (gloo on CPU, NCCL on GPU), or
    start a group of one. On a GPU the device is set first and handed to NCCL (`device_id`),
    so its communicator is bound to this rank's GPU from the start."""
    cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    device = torch.device("cpu")
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        backend = "nccl" if cuda else "gloo"
        device_id = device if cuda else None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group(backend, device_id=device_id)
        else:
            store = dist.HashStore()
            dist.init_process_group(backend, store=store, rank=0, world_size=1, device_id=device_id)
    return World(dist.get_rank(), dist.get_world_size(), device, owns)


def close_world(world: World) -> None:
    if world.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def parallelize(model: nn.Module, config: ParallelConfig, world: World) -> nn.Module:
    """Wrap each block (activation checkpointing, then compile in place, so parameter names do
    not change), and shard with FSDP2: each block and the root on several ranks; the root
    alone, one group, in a single process (nothing to overlap there)."""
    for index, block in enumerate(model.layers):
        if config.activation_checkpointing:
            block = checkpoint_wrapper(block, preserve_rng_state=False)
        if config.compile:
            block.compile(fullgraph=True)
        model.layers.register_module(str(index), block)
    # cast_forward_inputs=False: the RoPE tables a block receives stay fp32 (torchtitan's choice).
    policy = MixedPrecisionPolicy(
        param_dtype=DTYPES[config.param_dtype],
        reduce_dtype=DTYPES[config.reduce_dtype],
        cast_forward_inputs=False,
    )
    mesh = init_device_mesh(world.device.type, (world.size,))
    if world.distributed:
        for block in model.layers:
            fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def materialize(model: nn.Module, world: World, seed: int) -> nn.Module:
    """Give a meta-device model storage on this rank's device and draw its initial weights."""
    model.to_empty(device=world.device)
    with torch.no_grad():
        model.init_weights(seed)
    return model
