"""Continued pre-training (`init_from` with `data.replay`) and WSD decay branches
(`branch_from`), on real token shards: the bundled sample web pages are the old source a
model is pre-trained on, the bundled wiki articles the new one it continues on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from support.extracted_pages import extracted_pages
from support.token_runs import write_token_run
from tests.conftest import SAMPLE
from tokenizer.bpe import train_bpe
from trainer.checkpoint import complete_checkpoints, load_model, read_meta
from trainer.config import TrainConfigError, validate_train_config
from trainer.data import validation_windows
from trainer.errors import TrainingError
from trainer.train import Trainer, train

SEQ_LEN = 64
VAL_TOKENS = 8192


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Two token runs sharing one tokenizer: `web` (the sample WARCs' extracted pages) and
    `wiki` (the sample articles' paragraphs), each with 10 held-out documents."""
    web = [
        text
        for warc in sorted(SAMPLE.glob("web-*.warc.gz"))
        for text in extracted_pages(warc, "resiliparse").column("text").to_pylist()
    ]
    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    wiki = [p for text in articles for p in text.split("\n\n") if p.strip()]
    tokenizer = train_bpe(web + wiki, 400)
    root = tmp_path_factory.mktemp("sources")
    return {
        name: write_token_run(
            root / name, {name: docs[10:]}, {name: docs[:10]}, tokenizer=tokenizer
        )
        for name, docs in {"web": web, "wiki": wiki}.items()
    }


def config(output: Path, runs: list[Path], **keys) -> dict:
    train = keys.pop("train", {})
    return {
        "output": str(output),
        "data": {
            "runs": [{"path": str(run)} for run in runs],
            "seq_len": SEQ_LEN,
            "val_tokens": VAL_TOKENS,
        },
        "model": {"preset": "tiny"},
        "train": {
            "steps": 300,
            "global_batch_tokens": 1024,
            "micro_batch_size": 16,
            "lr": 1e-2,
            "warmup_steps": 10,
            "log_every": 50,
            **train,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 0, "keep": 1},
        **keys,
    }


def last_checkpoint(run: Path) -> Path:
    return complete_checkpoints(run / "checkpoints")[-1]


@torch.no_grad()
def held_out_loss(checkpoint: Path, run: Path) -> float:
    """Mean next-token cross-entropy of a checkpoint's model on a run's held-out windows,
    through the model's logits (not the trainer's fused loss)."""
    model = load_model(checkpoint).eval()
    (windows,) = validation_windows([run], SEQ_LEN, VAL_TOKENS).values()
    logits = model.lm_head(model(windows[:, :-1]))
    return F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).item()


@pytest.fixture(scope="module")
def pretrained(sources, tmp_path_factory) -> Path:
    """A model pre-trained on the web pages only; its checkpoint records that mixture."""
    output = tmp_path_factory.mktemp("pretrained")
    train(validate_train_config(config(output, [sources["web"]])))
    return last_checkpoint(output)


def continue_on_wiki(pretrained: Path, sources, output: Path, replay: float | None) -> Path:
    data = config(
        output,
        [sources["wiki"]],
        init_from=str(pretrained),
        train={"steps": 100, "lr": 3e-3, "warmup_steps": 10},
    )
    if replay:
        data["data"]["replay"] = {"fraction": replay}
    train(validate_train_config(data))
    return last_checkpoint(output)


@pytest.mark.slow
def test_replay_keeps_the_old_source_while_the_new_one_is_learned(pretrained, sources, tmp_path):
    with_replay = continue_on_wiki(pretrained, sources, tmp_path / "replay", 0.25)
    without = continue_on_wiki(pretrained, sources, tmp_path / "control", None)
    losses = {
        name: {source: held_out_loss(ckpt, sources[source]) for source in ("web", "wiki")}
        for name, ckpt in {"start": pretrained, "replay": with_replay, "control": without}.items()
    }
    print(json.dumps(losses, indent=1))
    start, replay, control = losses["start"], losses["replay"], losses["control"]
    old_rise, control_rise = replay["web"] - start["web"], control["web"] - start["web"]
    print(
        f"new source (wiki): {start['wiki']:.4f} → {replay['wiki']:.4f} with replay, "
        f"{control['wiki']:.4f} without; old source (web): {start['web']:.4f} → "
        f"{replay['web']:.4f} with replay ({old_rise:+.4f}), {control['web']:.4f} without "
        f"({control_rise:+.4f})"
    )
    assert replay["wiki"] < start["wiki"] and control["wiki"] < start["wiki"]
    assert old_rise <= 0.05 and old_rise < control_rise

    # The run validated its start first (step 0), on both sources of its mixture, and its
    # checkpoint records that mixture for the next continuation to replay.
    rows = [json.loads(line) for line in (tmp_path / "replay" / "metrics.jsonl").open()]
    assert rows[0]["step"] == 0
    for source in ("web", "wiki"):
        assert rows[0][f"val_loss/{source}"] == pytest.approx(start[source], abs=1e-4)
        assert rows[-1][f"val_loss/{source}"] == pytest.approx(replay[source], abs=1e-4)
    recorded = {Path(e["path"]).name: e["weight"] for e in read_meta(with_replay)["mixture"]}
    assert recorded == pytest.approx({"wiki": 0.75, "web": 0.25})


def losses_by_step(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


WSD = {"schedule": "wsd", "log_every": 1, "warmup_steps": 4}


@pytest.mark.slow
def test_a_decay_branch_of_the_stable_phase_equals_the_run_that_decays_there(sources, tmp_path):
    """A WSD run whose decay starts at step 24, against a longer run's stable phase branched
    at its step-24 checkpoint with that decay: the same losses, bit for bit."""
    web = [sources["web"]]
    decays_at_24 = {**WSD, "steps": 30, "decay_steps": 6}
    train(validate_train_config(config(tmp_path / "whole", web, train=decays_at_24)))
    stable = config(tmp_path / "stable", web, train={**WSD, "steps": 48, "decay_steps": 24})
    stable["checkpoint"] = {"every": 12, "keep": 4}
    train(validate_train_config(stable))
    step_24, step_36 = complete_checkpoints(tmp_path / "stable" / "checkpoints")[1:3]

    branch = config(tmp_path / "branch", web, train=decays_at_24, branch_from=str(step_24))
    train(validate_train_config(branch))
    whole, branched = losses_by_step(tmp_path / "whole"), losses_by_step(tmp_path / "branch")
    assert sorted(branched) == list(range(25, 31))
    assert branched == {step: whole[step] for step in range(25, 31)}
    again = Trainer(validate_train_config(branch))  # rerun: from its own checkpoint now
    try:
        assert again.resumed_from.parent == tmp_path / "branch" / "checkpoints"
    finally:
        again.close()

    late = config(tmp_path / "late", web, train=decays_at_24, branch_from=str(step_36))
    with pytest.raises(
        TrainingError, match=r"branch_from .*step-0000036: the learning rate at step 25"
    ):
        train(validate_train_config(late))


@pytest.mark.slow
def test_continued_pre_training_refuses_what_it_cannot_continue(pretrained, sources, tmp_path):
    wiki = [sources["wiki"]]
    keys = {"init_from": str(pretrained), "train": {"steps": 2}}
    data = config(tmp_path / "a", wiki, **keys)
    data["data"]["replay"] = {"fraction": 0.25}
    del data["init_from"]
    with pytest.raises(TrainConfigError, match=r"data\.replay\.runs: required without init_from"):
        validate_train_config(data)
    with pytest.raises(TrainConfigError, match=r"branch_from: .* drop init_from"):
        validate_train_config(config(tmp_path / "b", wiki, **keys, branch_from=str(pretrained)))

    unrecorded = tmp_path / "unrecorded"
    shutil.copytree(pretrained, unrecorded)
    meta = read_meta(unrecorded)
    del meta["mixture"]
    (unrecorded / "meta.json").write_text(json.dumps(meta))
    data = config(tmp_path / "c", wiki, init_from=str(unrecorded), train={"steps": 2})
    data["data"]["replay"] = {"fraction": 0.25}
    with pytest.raises(TrainingError, match=r"data\.replay\.runs: init_from .* records no mixture"):
        train(validate_train_config(data))

    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    own_tokenizer = write_token_run(
        tmp_path / "own", {"wiki": articles[4:]}, {"wiki": articles[:4]}, 300
    )
    with pytest.raises(TrainingError, match=r"init_from: its tokenizer .* is not the one"):
        train(validate_train_config(config(tmp_path / "d", [own_tokenizer], **keys)))
