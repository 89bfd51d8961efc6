"""GRPO: the verifiers, the clipped objective with its KL penalty against the formula, and
learning: GRPO raises the held-out reward of a small arithmetic task over its SFT start."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from support.chat_tasks import write_jsonl, write_tokenizer
from tests.conftest import CLI, ENV, ROOT, run_cli
from tests.test_posttrain import metrics
from trainer.config import TrainConfigError, validate_train_config
from trainer.errors import TrainingError
from trainer.model import Transformer
from trainer.model_args import preset
from trainer.objectives import GRPO
from trainer.posttrain import train
from trainer.rollout import group_advantages
from trainer.verifiers import gsm8k, resolve_verifier, reward


def addition(a: int, b: int, off: int = 0) -> dict:
    return {"question": f"{a}+{b}=", "answer": f"#### {a + b + off}"}


def digits_right(completion: str, record: dict) -> float:
    """A user's verifier (named by dotted path in a config): the share of the answer's
    characters that are right."""
    want = record["answer"].removeprefix("#### ")
    got = completion.removeprefix("#### ")
    return sum(a == b for a, b in zip(got, want, strict=False)) / max(len(got), len(want))


@pytest.fixture(scope="module")
def arithmetic(tmp_path_factory) -> dict[str, Path]:
    """a+b= without a carry (a < 100, b < 10): 200 held-out sums, and the rest for training.
    The SFT answers are one too many half of the time, so that SFT leaves the model partially
    right (imitation learns the noise); GRPO's records of the same prompts hold the right
    sums, for the verifier to correct it with."""
    folder = tmp_path_factory.mktemp("arithmetic")
    rng = random.Random(0)
    pairs = [(a, b) for a in range(100) for b in range(10) if a % 10 + b < 10]
    rng.shuffle(pairs)
    noisy = [addition(a, b, off=int(rng.random() < 0.5)) for a, b in pairs[200:]]
    return {
        "tokenizer": write_tokenizer(folder / "tokenizer.json"),
        "sft": write_jsonl(noisy, folder / "sft.jsonl"),
        "train": write_jsonl([addition(a, b) for a, b in pairs[200:]], folder / "train.jsonl"),
        "val": write_jsonl([addition(a, b) for a, b in pairs[:200]], folder / "val.jsonl"),
    }


def config(task: dict, output: Path, kind: str, **train) -> dict:
    return {
        "kind": kind,
        "output": str(output),
        "data": {
            "train": str(task["train"]),
            "val": str(task["val"]),
            "val_examples": 200,
            "tokenizer": str(task["tokenizer"]),
            "seq_len": 32,
            "prompt_key": "question",
            "response_key": "answer",
        },
        "model": {"preset": "tiny"},
        "train": {"log_every": 5, **train},
        "grpo": {"group_size": 8, "max_new_tokens": 10},
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"enabled": False},
    }


# Verifiers and advantages.


def test_the_gsm8k_verifier_wants_the_right_final_number_in_its_format():
    record = {"answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 1,072"}
    assert gsm8k("48 + 24 = 72, and 1000 more.\n#### 1072", record) == 1.0
    assert gsm8k("#### 1,072.0\n", record) == 1.0
    assert gsm8k("#### 1073", record) == 0.0
    assert gsm8k("The answer is 1072.", record) == 0.0  # right number, not in the format
    assert gsm8k("#### 1072 clips", record) == 0.0
    for unanswerable in ({}, {"answer": None}, {"answer": "no final line"}):
        assert gsm8k("#### 1072", unanswerable) == 0.0


def test_prompts_all_left_out_stop_the_run_on_one_line(arithmetic, tmp_path):
    """Prompts all longer than data.seq_len - grpo.max_new_tokens: the loader waited forever."""
    data = config(arithmetic, tmp_path / "run", "grpo", steps=1)
    data["data"]["seq_len"] = 12  # 2 positions for a prompt
    data["train"]["global_batch_tokens"] = 12 * 16
    with pytest.raises(TrainingError, match=f"^{arithmetic['train']}: no prompts to train on"):
        train(validate_train_config(data), resume="none")


def test_a_users_verifier_is_found_by_dotted_path_and_a_bad_one_is_a_config_error(
    arithmetic, tmp_path
):
    for path in ("tests.test_grpo:digits_right", "tests.test_grpo.digits_right"):
        assert resolve_verifier(path)("#### 12", {"answer": "#### 13"}) == 0.5
    data = config(arithmetic, tmp_path, "grpo", steps=1, global_batch_tokens=32 * 16)
    for bad, why in [
        ("tests.test_grpo:nothing", "cannot import 'tests.test_grpo:nothing'"),
        ("no_such_module:reward", "cannot import 'no_such_module:reward'"),
        ("sympy", "'sympy' is neither a built-in verifier"),
    ]:
        data["grpo"]["verifier"] = bad
        with pytest.raises(TrainConfigError, match=f"grpo.verifier: {why}"):
            validate_train_config(data)
    data["grpo"] |= {"verifier": "gsm8k", "group_size": 3}
    with pytest.raises(TrainConfigError, match=r"grpo\.group_size: 3 does not divide the 16"):
        validate_train_config(data)


def test_a_verifier_beside_the_command_is_found_as_uvicorn_finds_main_app(tmp_path, monkeypatch):
    """`rewards_here.py` in the folder `tokenmill grpo` runs in: the console script's path
    starts at its own folder, so it was `No module named 'rewards_here'`."""
    (tmp_path / "rewards_here.py").write_text("def exact(completion, record):\n    return 1.0\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", os.getcwd())])
    monkeypatch.chdir(tmp_path)
    assert resolve_verifier("rewards_here:exact")("42", {}) == 1.0


def test_a_verifier_that_raises_or_gives_no_number_stops_the_run_on_one_line():
    """A user's verifier is the user's code: what it raises, or a reward that is not a finite
    number, is a TrainingError naming it (it was a rank's traceback from torch.tensor)."""
    record = {"question": "1 + 1?", "solution": "2"}

    def needs_answer(completion, record):
        return float(record["answer"] in completion)

    assert reward(lambda completion, record: True, "mine:always", "2", record) == 1.0
    assert reward(lambda completion, record: np.float32(0.5), "mine:half", "2", record) == 0.5
    with pytest.raises(TrainingError) as raised:
        reward(needs_answer, "mine:needs_answer", "2", record)
    assert str(raised.value) == (
        "grpo.verifier mine:needs_answer: KeyError: 'answer' (the record's keys: question, "
        "solution)"
    )
    for value in (None, "1", float("nan"), [1.0]):
        with pytest.raises(TrainingError, match=r"^grpo.verifier mine:odd: returned .*; a ver"):
            reward(lambda completion, record, value=value: value, "mine:odd", "2", record)


def test_advantages_are_rewards_normalised_within_each_group():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    advantages = group_advantages(rewards, 4)
    first = (rewards[:4] - 0.25) / (rewards[:4].std() + 1e-4)
    torch.testing.assert_close(advantages[:4], first)
    assert (advantages[4:] == 0).all()  # all alike: nothing to learn from the group


# The objective against its formula.


@pytest.mark.slow
def test_the_grpo_loss_is_the_clipped_objective_plus_beta_k3_per_completion_token():
    """Old log-probs off the policy's (as after an earlier update, μ > 1), so that some
    ratios leave [1 − ε, 1 + ε]: the loss, its gradient and the clip fraction are the
    formula's, and padding and prompt positions count nothing."""
    torch.manual_seed(0)
    model = Transformer(preset("tiny", vocab_size=50))
    rows, length = 4, 10
    inputs = torch.randint(7, 50, (rows, length))
    targets = torch.randint(7, 50, (rows, length))
    weights = torch.zeros(rows, length)
    for row, (start, end) in enumerate([(3, 10), (2, 6), (5, 9), (1, 10)]):
        weights[row, start:end] = 1
    with torch.no_grad():
        logps = model.logits(inputs).log_softmax(-1).gather(2, targets[..., None]).squeeze(-1)
    old = (logps + torch.randn(rows, length) * 0.3) * weights
    batch = {
        "inputs": inputs,
        "targets": targets,
        "weights": weights,
        "advantages": torch.tensor([1.5, -0.5, 0.8, -1.2]),
        "old_logprobs": old,
        "ref_logprobs": (logps + torch.randn(rows, length) * 0.2) * weights,
    }
    clip, beta = 0.2, 0.1
    loss, count, got = GRPO(clip, beta).loss(model, batch)

    logits = model.logits(inputs).log_softmax(-1)
    policy = logits.gather(2, targets[..., None]).squeeze(-1)
    mask = weights.bool()
    ratio = torch.exp(policy[mask] - old[mask])
    advantage = batch["advantages"][:, None].expand(rows, length)[mask]
    surrogate = torch.minimum(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage)
    d = batch["ref_logprobs"][mask] - policy[mask]
    k3 = torch.exp(d) - d - 1
    expected = (-surrogate + beta * k3).sum()
    held = ((ratio > 1 + clip) & (advantage > 0)) | ((ratio < 1 - clip) & (advantage < 0))
    assert 0 < held.sum() < len(held)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    assert count == weights.sum()
    torch.testing.assert_close(got["kl"], k3.sum().detach(), rtol=1e-5, atol=1e-5)
    assert got["clip_fraction"] == held.sum()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, retain_graph=True)
    expected_grads = torch.autograd.grad(expected, params)
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


# Learning, resuming, the command.


@pytest.mark.slow
def test_grpo_raises_the_held_out_reward_over_its_sft_start(arithmetic, tmp_path):
    sft = config(arithmetic, tmp_path / "sft", "sft", steps=300)
    sft["data"]["train"] = str(arithmetic["sft"])
    sft["train"] |= {"global_batch_tokens": 32 * 16, "micro_batch_size": 16, "lr": 3e-3}
    sft["train"]["warmup_steps"] = 5
    sft["checkpoint"] = {"enabled": True}
    train(validate_train_config(sft))
    data = config(arithmetic, tmp_path / "grpo", "grpo", steps=40)
    data["train"] |= {"global_batch_tokens": 32 * 128, "micro_batch_size": 64, "lr": 3e-4}
    data["train"]["schedule"] = "constant"
    data |= {"init_from": str(tmp_path / "sft" / "checkpoints" / "step-0000300")}
    del data["data"]["tokenizer"], data["model"]
    after = train(validate_train_config(data))
    before, *rows = metrics(tmp_path / "grpo")  # a run from init_from validates its start first
    assert before["step"] == 0
    generation = sum(r["generation_s"] for r in rows)
    update = sum(r["update_s"] for r in rows)
    print(
        f"held-out reward (greedy, 200 sums): SFT {before['val_reward']:.3f}, GRPO "
        f"{after['val_reward']:.3f}; KL to the SFT model {after['kl']:.4f}; sampled reward by "
        f"step {[(r['step'], round(r['reward'], 3)) for r in rows]}; logged steps' time in "
        f"generation {generation:.2f} s, in the update {update:.2f} s"
    )
    assert after["val_reward"] >= before["val_reward"] + 0.15
    assert 0 < after["kl"] < 1 and np.isfinite(after["loss"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_grpo_resumes_exactly(arithmetic, tmp_path):
    """The completions are sampled with a seed of (train.seed, step, rank): a resumed run
    samples, and so learns, what the uninterrupted one did."""
    data = config(arithmetic, tmp_path / "full", "grpo", steps=4, log_every=1)
    data["train"] |= {"global_batch_tokens": 32 * 16, "micro_batch_size": 8, "lr": 1e-3}
    data["checkpoint"] = {"every": 2, "keep": 2}
    train(validate_train_config(data))
    resumed = tmp_path / "resumed"
    step2 = tmp_path / "full" / "checkpoints" / "step-0000002"
    (resumed / "checkpoints").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(step2), str(resumed / "checkpoints")], check=True)
    train(validate_train_config(data | {"output": str(resumed)}))
    full = {r["step"]: (r["loss"], r["reward"]) for r in metrics(tmp_path / "full")}
    again = {r["step"]: (r["loss"], r["reward"]) for r in metrics(resumed)}
    assert sorted(again) == [3, 4] and all(again[s] == full[s] for s in (3, 4))


def test_grpo_has_help():
    done = run_cli(["grpo", "--help"])
    assert done.returncode == 0 and "verifier" in done.stdout


@pytest.mark.slow
@pytest.mark.corpora
def test_gsm8k_grpo_smoke_run(arithmetic, corpora, tmp_path):
    posttrain = corpora / "posttrain"
    subprocess.run(
        [
            *CLI,
            "grpo",
            "configs/grpo-gsm8k.yaml",
            "--output",
            str(tmp_path / "grpo"),
            *("--set", "init_from=null", "--set", f"data.tokenizer={arithmetic['tokenizer']}"),
            *("--set", f"data.train={posttrain / 'gsm8k-train.jsonl'}"),
            *("--set", f"data.val={posttrain / 'gsm8k-test.jsonl'}"),
            *("--set", "data.max_examples=64", "--set", "data.val_examples=8"),
            *("--set", "data.seq_len=384", "--set", "grpo.max_new_tokens=16"),
            *("--set", "grpo.group_size=4", "--set", "train.global_batch_tokens=6144"),
            *("--set", "train.steps=3", "--set", "checkpoint.every=0"),
        ],
        env=ENV,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    rows = metrics(tmp_path / "grpo")
    print(rows[-1])
    assert rows[-1]["step"] == 3 and "val_reward" in rows[-1]
    assert rows[-1]["completion_tokens"] <= 16 and np.isfinite(rows[-1]["kl"])
    assert (tmp_path / "grpo" / "checkpoints" / "step-0000003" / "meta.json").is_file()
    assert json.loads((posttrain / "gsm8k-train.jsonl").read_text().splitlines()[0])["answer"]
