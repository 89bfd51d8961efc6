"""How the model is set up: the process group and device, FSDP2's mixed precision, compile
and activation checkpointing, the meta-device build; each shown on CPU."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from trainer import parallelize as parallel
from trainer.config import ParallelConfig
from trainer.model import Transformer
from trainer.model_args import preset
from trainer.parallelize import World, close_world, init_world, materialize, parallelize


@pytest.fixture
def world():
    world = init_world(ParallelConfig(device="cpu"))
    yield world
    close_world(world)


def build(world: World, **config) -> Transformer:
    with torch.device("meta"):
        model = Transformer(preset("tiny", vocab_size=97, max_seq_len=32))
    model = parallelize(model, ParallelConfig(device="cpu", **config), world)
    return materialize(model, world, seed=0)


def test_bf16_blocks_get_fp32_rope_tables(world):
    """FSDP2 casts parameters to bf16 but not a block's inputs: RoPE's cos and sin stay fp32."""
    model = build(world, param_dtype="bfloat16")
    seen = []
    model.layers[0].register_forward_pre_hook(
        lambda _module, args: seen.append([a.dtype for a in args[:3]])
    )
    hidden = model(torch.randint(0, 97, (2, 8)))
    assert seen == [[torch.bfloat16, torch.float32, torch.float32]]
    assert hidden.dtype == torch.bfloat16


def test_the_device_is_set_before_nccl_starts_and_handed_to_it(monkeypatch):
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(parallel.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(parallel.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(parallel.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set", device)))
    monkeypatch.setattr(
        parallel.dist,
        "init_process_group",
        mock.Mock(side_effect=lambda *a, **k: calls.append(("init", a, k))),
    )
    world = init_world(ParallelConfig(device="cuda"))
    cuda1 = torch.device("cuda", 1)
    assert calls == [("set", cuda1), ("init", ("nccl",), {"device_id": cuda1})]
    assert world.device == cuda1 and world.size == 2 and world.rank == 1


def test_compile_and_checkpointing_keep_the_parameter_names(world):
    """`block.compile(fullgraph=True)` compiles in place: no `_orig_mod.` in the names, and a
    graph break would be an error. (test_trainer's compiled run checks the losses.)"""
    names = [name for name, _ in build(world).named_parameters()]
    compiled = build(world, compile=True, activation_checkpointing=True)
    assert [
        name.replace("._checkpoint_wrapped_module", "") for name, _ in compiled.named_parameters()
    ] == names
    assert all(block._compiled_call_impl is not None for block in compiled.layers)


def test_the_model_is_built_on_the_meta_device(world, monkeypatch):
    """No rank builds the whole model on a real device first; weights are drawn afterwards,
    the same whatever the sharding (each parameter from its own generator)."""
    devices = []
    original = Transformer.__init__

    def record(self, args):
        original(self, args)
        devices.append(next(self.parameters()).device.type)

    monkeypatch.setattr(Transformer, "__init__", record)
    model = build(world)
    assert devices == ["meta"]
    plain = Transformer(preset("tiny", vocab_size=97, max_seq_len=32))
    plain.init_weights(seed=0)
    for (name, ours), theirs in zip(model.named_parameters(), plain.parameters(), strict=True):
        assert torch.equal(ours.full_tensor(), theirs), name
