"""The trainer on real token shards: FSDP parity, exact resume after a kill, learning, HF export;
bad shards refused and a corrupt checkpoint fallen back from, each on one line naming the file."""

from __future__ import annotations

import errno
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.torchrun import PARENT_PID
from support.token_runs import write_token_run
from tests.conftest import (
    CLI,
    ENV,
    SAMPLE,
    output_once_ended,
    run_cli,
    small_disk,
    training_after_two_steps,
)
from trainer.checkpoint import CheckpointError, load_model
from trainer.config import validate_train_config
from trainer.data import Loader, train_shards, verify_checksums
from trainer.errors import TrainingError
from trainer.objectives import Pretraining
from trainer.optim import lr_at
from trainer.train import Trainer, train


@pytest.fixture(scope="module")
def token_run(tmp_path_factory) -> Path:
    """The bundled wiki articles as a token run: paragraphs as documents, 10 held out."""
    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    paragraphs = [p for text in articles for p in text.split("\n\n") if p.strip()]
    out = tmp_path_factory.mktemp("tokens")
    return write_token_run(out, {"wiki": paragraphs[10:]}, {"wiki": paragraphs[:10]}, 300)


def config_data(run: Path, output: Path, **train) -> dict:
    return {
        "output": str(output),
        "data": {"runs": [{"path": str(run)}], "seq_len": 32, "val_tokens": 1024},
        "model": {"preset": "tiny"},
        "train": {
            "steps": 20,
            "global_batch_tokens": 256,
            "micro_batch_size": 2,
            "warmup_steps": 3,
            "log_every": 1,
            **train,
        },
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 5, "keep": 2},
    }


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


@pytest.fixture(scope="module")
def reference(token_run, tmp_path_factory) -> Path:
    """One uninterrupted single-process run, in this process."""
    output = tmp_path_factory.mktemp("reference")
    result = train(validate_train_config(config_data(token_run, output)))
    assert result["step"] == 20 and np.isfinite(result["val_loss"])
    return output


def write_config(data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def fsdp_run(token_run, tmp_path_factory) -> Path:
    """The same run on two processes (FSDP2 over gloo), through the CLI and torchrun."""
    folder = tmp_path_factory.mktemp("fsdp")
    config = write_config(config_data(token_run, folder / "run"), folder / "train.yaml")
    subprocess.run([*CLI, "train", str(config), "--nproc", "2"], env=ENV, check=True, timeout=300)
    return folder / "run"


@pytest.mark.slow
def test_two_process_fsdp_matches_one_process(fsdp_run, reference):
    ours, theirs = losses(fsdp_run), losses(reference)
    assert sorted(ours) == list(range(1, 21))
    np.testing.assert_allclose([ours[s] for s in ours], [theirs[s] for s in ours], rtol=1e-4)
    assert len(list((fsdp_run / "checkpoints" / "step-0000020").glob("rank-*.pt"))) == 2


@pytest.mark.slow
def test_a_run_folder_given_for_a_checkpoint_names_its_latest(reference, tmp_path):
    from trainer.checkpoint import read_meta
    from trainer.start import StartError, start_tokenizer

    latest = reference / "checkpoints" / "step-0000020"
    for folder in (reference, reference / "checkpoints"):
        with pytest.raises(FileNotFoundError, match=re.escape(f"; did you mean {latest}?")):
            read_meta(folder)
        with pytest.raises(StartError, match=re.escape(f"(init_from); did you mean {latest}?")):
            start_tokenizer(str(folder))
    with pytest.raises(FileNotFoundError, match=re.escape(f"is {tmp_path} a tokenmill check")):
        read_meta(tmp_path)


@pytest.mark.slow
def test_killed_run_resumes_bit_exact(token_run, reference, tmp_path):
    output = tmp_path / "killed"
    config = write_config(config_data(token_run, output), tmp_path / "train.yaml")
    process = subprocess.Popen([*CLI, "train", str(config)], env=ENV, stderr=subprocess.DEVNULL)
    first = output / "checkpoints" / "step-0000005"
    deadline = time.monotonic() + 240
    while not first.is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert first.is_dir(), "no checkpoint was written before the kill"
    assert not (output / "checkpoints" / "step-0000020").exists(), "the run ended before the kill"

    subprocess.run([*CLI, "train", str(config)], env=ENV, check=True, timeout=300)
    resumed, uninterrupted = losses(output), losses(reference)
    assert resumed == uninterrupted  # every step, bit for bit, and the log has no duplicates


@pytest.mark.slow
def test_compiled_blocks_train_like_eager(token_run, reference, tmp_path):
    """`parallel.compile` (inductor's C++ kernels on CPU, the whole block one graph) with
    activation checkpointing keeps the losses and the names."""
    data = config_data(token_run, tmp_path / "compiled")
    data["parallel"] |= {"compile": True, "activation_checkpointing": True}
    train(validate_train_config(data))
    compiled, eager = losses(tmp_path / "compiled"), losses(reference)
    assert sorted(compiled) == list(range(1, 21))
    np.testing.assert_allclose([compiled[s] for s in eager], list(eager.values()), rtol=1e-4)
    load_model(tmp_path / "compiled" / "checkpoints" / "step-0000020")  # an eager model loads it


def test_loader_resumes_at_next_unseen_token(token_run):
    shards = train_shards(token_run)

    def loader(state=None):
        return Loader([(shards, 1.0)], 16, 6, 3, seed=7, prefetch=2, state=state)

    straight = loader()
    batches = [next(straight).inputs for _ in range(12)]
    state = straight.state
    first = loader()
    for _ in range(5):
        state = next(first).state
    resumed = loader(state)
    for expected in batches[5:]:
        assert torch.equal(next(resumed).inputs, expected)
    for handle in (straight, first, resumed):
        handle.close()
    stream = np.concatenate([b.reshape(-1, 16) for b in (x.numpy() for x in batches)])
    assert len(np.unique(stream, axis=0)) > 0.9 * len(stream)


def test_a_loader_whose_reading_fails_closes_though_nothing_takes_the_error(token_run):
    """The reading thread put its error in a full queue and waited for ever for a consumer
    that was closing: `close` joined it for ever (a stopped training that never exited)."""
    loader = Loader([(train_shards(token_run), 1.0)], 16, 6, 3, seed=7, prefetch=1)
    batch = loader.next_batch
    calls = []

    def fails_from_the_third():
        calls.append(1)
        if len(calls) > 2:
            raise OSError("a shard went away")
        return batch()

    loader.next_batch = fails_from_the_third
    next(loader)  # the second batch fills the queue; the third call's error waits for room
    while len(calls) < 3:
        time.sleep(0.01)
    closing = threading.Thread(target=loader.close, daemon=True)
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive()


def test_weighted_runs_interleave_by_weight(token_run, tmp_path):
    shards = train_shards(token_run)
    loader = Loader([(shards, 3.0), (shards, 1.0)], 8, 8, 8, seed=0, prefetch=1)
    picks = loader._pick_runs(400)
    assert np.bincount(picks).tolist() == [300, 100]
    loader.close()


def test_checksum_mismatch_is_refused_with_its_path(token_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(token_run, copy)
    shard = train_shards(copy)[1]
    shard.write_bytes(shard.read_bytes()[:-100] + bytes(100))
    with pytest.raises(TrainingError, match=str(shard)):
        verify_checksums(copy, train_shards(copy))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_val_shard_is_refused_naming_it_and_the_manifest(token_run, tmp_path):
    copy = shutil.copytree(token_run, tmp_path / "copy")
    shard = copy / "tokens" / "val" / "00000.parquet"
    flip_byte(shard)
    message = f"{shard}: sha256 does not match {copy / 'tokens' / 'manifest.json'}"
    with pytest.raises(TrainingError, match=re.escape(message)):
        train(validate_train_config(config_data(copy, tmp_path / "run", steps=1)))


@pytest.mark.parametrize("shard", ["train-00001.parquet", "val/00000.parquet"])
def test_shard_missing_from_disk_stops_the_run(token_run, tmp_path, shard):
    copy = shutil.copytree(token_run, tmp_path / "copy")
    (copy / "tokens" / shard).unlink()
    message = (
        f"{copy / 'tokens' / shard}: listed in {copy / 'tokens' / 'manifest.json'} but missing"
    )
    with pytest.raises(TrainingError, match=re.escape(message)):
        train(validate_train_config(config_data(copy, tmp_path / "run", steps=1)))


def test_shard_the_manifest_does_not_list_is_refused(token_run, tmp_path):
    copy = shutil.copytree(token_run, tmp_path / "copy")
    extra = copy / "tokens" / "val" / "00001.parquet"
    shutil.copyfile(copy / "tokens" / "val" / "00000.parquet", extra)
    with pytest.raises(TrainingError, match=re.escape(f"{extra}: a shard {copy}")):
        train(validate_train_config(config_data(copy, tmp_path / "run", steps=1)))


def test_training_errors_print_as_one_line(token_run, tmp_path, capsys):
    """`tokenmill train` and `python -m trainer.train` (each rank) exit non-zero, no traceback."""
    from pipeline.cli import main as tokenmill
    from trainer.train import main as train_rank

    copy = shutil.copytree(token_run, tmp_path / "copy")
    shard = copy / "tokens" / "train-00000.parquet"
    shard.unlink()
    config = write_config(config_data(copy, tmp_path / "run", steps=1), tmp_path / "train.yaml")
    capsys.readouterr()
    assert tokenmill(["train", str(config)]) == 1
    assert train_rank([str(config)]) == 1
    problem = f"{shard}: listed in {copy / 'tokens' / 'manifest.json'} but missing"
    assert capsys.readouterr().err.splitlines() == [
        f"training error: {problem}",
        f"error: {problem}",
    ]


def test_a_save_on_a_full_disk_stops_the_run_on_one_line(token_run, tmp_path):
    """torch's writer reports a full disk as a broken zip file (`unexpected pos 704 vs
    598`), in a page of traceback from the rank; the run names the checkpoint and the cause."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        config = write_config(config_data(token_run, disk / "run", steps=6), tmp_path / "t.yaml")
        done = run_cli(["train", str(config)])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    checkpoint = disk / "run" / "checkpoints" / "step-0000005.tmp"
    assert done.stderr.splitlines()[-1].startswith(
        f"training error: {checkpoint}: not saved: no space left on the device ("
    )


def test_a_rank_the_machine_refuses_a_file_prints_one_line(token_run, tmp_path, capsys):
    from trainer.train import run_rank

    config = write_config(config_data(token_run, tmp_path / "run"), tmp_path / "train.yaml")

    def full_disk(config, resume):
        raise OSError(errno.ENOSPC, "No space left on device", "run/metrics.jsonl")

    assert run_rank([str(config)], "rank", "a rank", full_disk) == 1
    assert capsys.readouterr().err == (
        "error: [Errno 28] No space left on device: 'run/metrics.jsonl'\n"
    )


def test_a_changed_schedule_is_refused_on_resume_unless_rescheduled(token_run, tmp_path, capsys):
    from pipeline.cli import main as tokenmill

    run = tmp_path / "run"
    config = write_config(config_data(token_run, run, steps=5), tmp_path / "train.yaml")
    assert tokenmill(["train", str(config)]) == 0
    logged = capsys.readouterr().err  # off a terminal: a line per logged step, no bar
    assert re.search(r"^step 5/5 loss \d+\.\d{4} [\d,]+ tokens/s$", logged, re.M)
    assert "\r" not in logged
    assert tokenmill(["train", str(config), "--set", "train.steps=10"]) == 2
    assert (
        capsys.readouterr()
        .err.replace("\n", "")
        .startswith(
            f"config error: train.steps: 5 in {run / 'checkpoints' / 'step-0000005'}, 10 now: "
            "a resumed run keeps its learning-rate schedule; rerun with --reschedule"
        )
    )
    assert tokenmill(["train", str(config), "--set", "train.steps=10", "--reschedule"]) == 0
    assert max(losses(run)) == 10


def test_an_export_is_readable_by_all_and_never_overwrites_unasked(
    reference, tmp_path, capsys, monkeypatch
):
    from pipeline.cli import main as tokenmill

    checkpoint, out = str(reference / "checkpoints" / "step-0000020"), tmp_path / "hf"
    assert tokenmill(["export", checkpoint, "--hf", str(out)]) == 0
    assert {path.stat().st_mode & 0o777 for path in out.iterdir()} == {0o644}
    capsys.readouterr()
    assert tokenmill(["export", checkpoint, "--hf", str(out)]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (
        f"config error: --hf {out}: holds files already; --force writes over them"
    )
    assert tokenmill(["export", checkpoint, "--hf", str(out), "--force"]) == 0
    weights = out / "model.safetensors"
    capsys.readouterr()
    assert tokenmill(["export", checkpoint, "--hf", str(weights), "--force"]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (
        f"config error: --hf {weights}: a file, not a folder"
    )
    assert tokenmill(["export", checkpoint, "--hf", str(Path.home()), "--force"]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (
        f"config error: --hf {Path.home()} is the home folder; give the export a folder of its own"
    )
    assert tokenmill(["export", checkpoint, "--hf", "/sys/tokenmill-test/hf"]) == 2
    assert capsys.readouterr().err.replace("\n", "") == (  # [Errno 1], after loading
        "config error: --hf: /sys/tokenmill-test/hf cannot be made: Operation not permitted"
    )
    monkeypatch.chdir(tmp_path)  # pathlib made s3://b/m a local folder named s3:
    assert tokenmill(["export", checkpoint, "--hf", "s3://b/m"]) == 2
    assert not (tmp_path / "s3:").exists()
    assert "--hf s3://b/m: an export is written to a local folder" in capsys.readouterr().err


def drop_checksums_and_truncate(folder: Path) -> None:
    """A checkpoint from before meta.json recorded checksums, whose DCP file lost its tail:
    DCP itself fails, after it has copied some tensors into the model."""
    meta = json.loads((folder / "meta.json").read_text())
    meta.pop("files", None)
    (folder / "meta.json").write_text(json.dumps(meta))
    data = (folder / "__0_0.distcp").read_bytes()
    (folder / "__0_0.distcp").write_bytes(data[: len(data) // 2])


def last_two_checkpoints(run: Path) -> tuple[Path, Path]:
    """A 20-step run that saves every 5 steps and keeps 2: step 20, then step 15."""
    return run / "checkpoints" / "step-0000020", run / "checkpoints" / "step-0000015"


CORRUPTIONS = {
    "flipped-byte-in-dcp-file": (lambda folder: flip_byte(folder / "__0_0.distcp"), "__0_0.distcp"),
    "rank-state-file-lost": (lambda folder: (folder / "rank-0.pt").unlink(), "rank-0.pt: missing"),
    "dcp-file-truncated-without-checksums": (drop_checksums_and_truncate, "step-0000020: "),
}


@pytest.mark.parametrize(("corrupt", "names"), CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_latest_checkpoint_falls_back_bit_exact(
    token_run, reference, tmp_path, capsys, corrupt, names
):
    """Resuming from the previous checkpoint ends where the uninterrupted run ended."""
    output = shutil.copytree(reference, tmp_path / "run")
    latest, previous = last_two_checkpoints(output)
    corrupt(latest)
    capsys.readouterr()
    train(validate_train_config(config_data(token_run, output)))
    said = [line for line in capsys.readouterr().err.splitlines() if "resume" in line]
    assert len(said) == 1 and said[0].startswith(f"cannot resume from {latest}: ")
    assert names in said[0] and said[0].endswith(f"; falling back to {previous}")
    assert losses(output) == losses(reference)
    ours = load_model(latest).state_dict()
    theirs = load_model(reference / "checkpoints" / "step-0000020").state_dict()
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)


def test_unloadable_checkpoints_stop_the_run_naming_them(token_run, reference, tmp_path, capsys):
    output = shutil.copytree(reference, tmp_path / "run")
    latest, previous = last_two_checkpoints(output)
    config = validate_train_config(config_data(token_run, output))
    (latest / "rank-0.pt").unlink()
    with pytest.raises(TrainingError, match=re.escape(f"cannot resume from {latest}: ")):
        train(config, resume=str(latest))  # a checkpoint asked for by name: no fallback
    assert "falling back" not in capsys.readouterr().err
    flip_byte(previous / "__0_0.distcp")
    with pytest.raises(
        TrainingError, match=re.escape(f"cannot resume from {latest}, {previous}: ")
    ):
        train(config)
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == [
        previous.name,
        latest.name,
    ]
    assert losses(output) == losses(reference)  # nothing started over


def test_checkpoints_of_another_model_shape_stop_the_run_at_once(token_run, reference, tmp_path):
    """A changed `model` read each checkpoint in turn, falling back past every one with
    torch's `Size mismatch ... for model.embed_tokens.weight`."""
    output = shutil.copytree(reference, tmp_path / "run")
    latest, _ = last_two_checkpoints(output)
    data = config_data(token_run, output)
    data["model"] = {"preset": "tiny", "n_layers": 3}
    with pytest.raises(
        TrainingError,
        match=re.escape(
            f"cannot resume from {latest}: it holds a model of another shape (n_layers 2 there, "
            "3 here); resume with the model it was written with, or start over"
        ),
    ):
        train(validate_train_config(data))
    assert losses(output) == losses(reference)


def test_a_damaged_checkpoint_is_named_where_a_model_is_loaded(reference, tmp_path):
    """`load_model` (export, generate, init_from) names the file meta.json lists that is
    damaged or missing, or what meta.json lacks, in one line."""
    checkpoint = shutil.copytree(reference / "checkpoints" / "step-0000020", tmp_path / "c")
    weights, meta = checkpoint / "__0_0.distcp", checkpoint / "meta.json"
    flip_byte(weights)
    with pytest.raises(CheckpointError, match=re.escape(f"{weights}: sha256 does not match")):
        load_model(checkpoint)
    weights.unlink()
    with pytest.raises(CheckpointError, match=re.escape(f"{weights}: missing (meta.json lists")):
        load_model(checkpoint)
    for text, error in (("{", "JSONDecodeError"), ('{"step": 20}', "no model arguments")):
        meta.write_text(text)
        with pytest.raises(CheckpointError, match=re.escape(f"{meta}: {error}")):
            load_model(checkpoint)


def test_a_resume_keeps_the_metrics_up_to_its_step_and_drops_a_row_cut_by_a_crash(tmp_path):
    from trainer.metrics import MetricsLog

    rows = [json.dumps({"step": step, "loss": 1.0}) for step in (10, 20, 30)]
    (tmp_path / "metrics.jsonl").write_text("\n".join([*rows, '{"step": 40, "lo']) + "\n")
    MetricsLog(tmp_path, enabled=True, total_steps=40, start_step=20).close()
    assert (tmp_path / "metrics.jsonl").read_text() == "".join(row + "\n" for row in rows[:2])


def test_a_run_with_fewer_tokens_than_a_sequence_is_a_training_error(tmp_path):
    from trainer.data import ShardError, TokenStream, train_shards
    from trainer.storage import location

    texts = {"wiki": ["a few words of text", "and a few more words of it"] * 3}
    run = location(str(write_token_run(tmp_path / "small", texts, texts, vocab_size=300)))
    stream = TokenStream(train_shards(run), seq_len=4096, seed=0)
    with pytest.raises(
        ShardError, match=re.escape("fewer than seq_len + 1 = 4097 tokens in all shards")
    ):
        stream.take(1)


def test_runs_tokenized_with_different_tokenizers_are_refused_naming_them(token_run, tmp_path):
    from trainer.train import tokenizer_path

    texts = {"wiki": ["a few words of text", "and a few more words of it"] * 20}
    other = write_token_run(tmp_path / "other", texts, texts, vocab_size=300)
    data = config_data(token_run, tmp_path / "out")
    data["data"]["runs"].append({"path": str(other)})
    mine, theirs = (run / "tokenizer" / "tokenizer.json" for run in (token_run, other))
    with pytest.raises(TrainingError, match=re.escape(f"data.runs: {theirs} is not {mine}: ")):
        tokenizer_path(validate_train_config(data))


def _alive(marker: str) -> list[str]:
    """Command lines of this machine's processes that mention `marker`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # ended meanwhile
            continue
        if marker in line:
            found.append(line)
    return found


def _training(token_run, run: Path, config: Path, nproc: int = 2) -> subprocess.Popen:
    """`tokenmill train --nproc N` in a session of its own, once it has logged two steps;
    SIGINT acts as on a terminal (a suite started in the background ignores it)."""
    data = config_data(token_run, run, steps=100_000, log_every=1)
    command = [*CLI, "train", str(write_config(data, config)), "--nproc", str(nproc)]
    return training_after_two_steps(command, run, env=ENV, start_new_session=True)


def _none_left(marker: str, seconds: float) -> list[str]:
    """The processes mentioning `marker` still there after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := _alive(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_cli_stops_every_torchrun_rank_on_one_line(token_run, tmp_path, stop):
    """`kill -INT` or `kill` reaches the CLI alone, which passes it on to torchrun, which
    passes it on to the ranks (each in a session of its own; a Ctrl-C on a terminal reaches
    torchrun itself too). Before, the CLI killed torchrun (SIGINT) or died (SIGTERM), and
    the ranks trained on; each printed a KeyboardInterrupt traceback when it did get one."""
    run = _training(token_run, tmp_path / "run", tmp_path / "train.yaml")
    run.send_signal(stop)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")
    assert "Traceback" not in stderr
    assert _none_left(str(tmp_path / "run"), 10) == []


@pytest.mark.slow
def test_kill_stops_a_one_process_training_as_ctrl_c_does(token_run, tmp_path):
    """SIGTERM of `tokenmill train` training in its own process: it died without a word."""
    run = _training(token_run, tmp_path / "run", tmp_path / "train.yaml", nproc=1)
    run.send_signal(signal.SIGTERM)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")


def _run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c SCRIPT ARGS`, SIGINT acting as on a terminal, what it prints as text."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


RANK_INTERRUPTED_IN_A_FINALISER = """
import signal, sys, weakref
from torch.optim.optimizer import register_optimizer_step_post_hook
from trainer.train import main

doomed = [set()]  # the last reference to an object with a weakref callback
steps = []

def interrupt_inside_the_callback(reference):  # twice: the first is only recorded
    for _ in range(2):
        signal.raise_signal(signal.SIGINT)  # raised here, where Python can only print it

def drop_at_the_third_step(optimizer, args, kwargs):  # after every optimizer's step
    steps.append(1)
    if len(steps) == 3:
        doomed.clear()

reference = weakref.ref(doomed[0], interrupt_inside_the_callback)
register_optimizer_step_post_hook(drop_at_the_third_step)
sys.exit(main([sys.argv[1]]))
"""


def test_a_rank_stops_on_a_ctrl_c_that_lands_in_a_finaliser(token_run, tmp_path):
    """SIGINT raised while a weakref callback runs (torch holds many): Python printed
    "Exception ignored in ..." with a traceback and dropped the KeyboardInterrupt, and the
    rank trained on (in CI, a rank of the two-rank stop test above)."""
    run = tmp_path / "run"
    config = write_config(config_data(token_run, run, steps=40), tmp_path / "train.yaml")
    done = _run_script(RANK_INTERRUPTED_IN_A_FINALISER, str(config))
    assert done.returncode == 130, done.stderr[-2000:]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert max(losses(run)) == 3  # the next step did not start


RANK_INTERRUPTED_IN_A_STEP = """
import signal, sys
from torch.optim.optimizer import register_optimizer_step_post_hook
from trainer.train import main

steps = []

def interrupt_at_the_third_step(optimizer, args, kwargs):  # inside torch's optimizer step
    steps.append(1)
    if len(steps) == 3:
        for _ in range(int(sys.argv[2])):
            signal.raise_signal(signal.SIGINT)

register_optimizer_step_post_hook(interrupt_at_the_third_step)
sys.exit(main([sys.argv[1]]))
"""


@pytest.mark.parametrize(
    ("steps", "signals", "last_logged"),
    [(40, 1, 3), (40, 2, 2), (3, 1, 3)],
    ids=["one-finishes-its-step", "a-second-stops-at-once", "one-in-the-last-step"],
)
def test_a_ctrl_c_within_a_step_stops_the_run_after_it(
    token_run, tmp_path, steps, signals, last_logged
):
    """A KeyboardInterrupt raised inside a step can leave what a library was doing half
    done (a queue's or a TensorBoard writer's lock taken): a one-process training, killed,
    once hung for ever instead of exiting. A Ctrl-C now lets its step finish and is raised
    before the next one (or at the end); a second one is raised at once."""
    run = tmp_path / "run"
    config = write_config(config_data(token_run, run, steps=steps), tmp_path / "train.yaml")
    done = _run_script(RANK_INTERRUPTED_IN_A_STEP, str(config), str(signals))
    assert done.returncode == 130, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.count("stopping after this step") == 1
    assert max(losses(run)) == last_logged


@pytest.mark.slow
def test_a_killed_cli_takes_torchrun_and_its_ranks_with_it(token_run, tmp_path):
    """`kill -9` of the CLI: the kernel sends torchrun SIGTERM (prctl's parent-death signal),
    which it passes on to the ranks; they went on training."""
    run = _training(token_run, tmp_path / "run", tmp_path / "train.yaml")
    run.kill()
    output_once_ended(run, 60)
    assert _none_left(str(tmp_path / "run"), 30) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_torchrun_whose_cli_ended_before_it_started_ends_before_any_rank(tmp_path):
    """A CLI killed while Python was starting torchrun, before prctl took hold: torchrun is
    no longer the child of the pid the CLI gave, and ends at once; it went on to train."""
    torchrun = [sys.executable, "-m", "pipeline.torchrun", "--standalone", "--nproc-per-node=1"]
    done = subprocess.run(
        [*torchrun, "-m", "trainer.train", str(tmp_path / "train.yaml")],
        env={**ENV, PARENT_PID: "1"},  # not its parent: the one that started it is gone
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (128 + signal.SIGTERM, "")


@pytest.mark.slow
def test_two_ranks_fall_back_together(token_run, fsdp_run, tmp_path):
    """Each rank hashes its share of a checkpoint's files, so only one of them finds the
    flipped byte; both must still fall back to the same checkpoint."""
    output = shutil.copytree(fsdp_run, tmp_path / "run")
    latest, previous = last_two_checkpoints(output)
    flip_byte(latest / "__0_0.distcp")
    config = write_config(config_data(token_run, output), tmp_path / "train.yaml")
    done = run_cli(["train", str(config), "--nproc", "2"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{latest / '__0_0.distcp'}: sha256 does not match" in done.stderr
    assert f"; falling back to {previous}" in done.stderr
    assert losses(output) == losses(fsdp_run)


def test_schedules():
    def section(**kw):
        data = config_data(Path("x"), Path("y"), steps=100, lr=1.0, min_lr_ratio=0.1, **kw)
        return validate_train_config(data).train

    cosine = section(warmup_steps=10)
    assert lr_at(5, cosine) == 0.5 and lr_at(10, cosine) == 1.0
    assert lr_at(100, cosine) == pytest.approx(0.1)
    wsd = section(schedule="wsd", warmup_steps=10, decay_fraction=0.2)
    assert lr_at(80, wsd) == 1.0 and lr_at(90, wsd) == pytest.approx(0.55)
    assert lr_at(100, wsd) == pytest.approx(0.1)
    in_steps = section(schedule="wsd", warmup_steps=10, decay_steps=20)
    assert [lr_at(s, in_steps) for s in range(1, 101)] == [lr_at(s, wsd) for s in range(1, 101)]
    assert lr_at(60, section(schedule="constant")) == 1.0


def test_hf_export_logits_match(reference, token_run, tmp_path):
    """Llama without QK-norm; Qwen3 (per-head q/k norms) with it, tied embeddings too."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.export import export_hf

    qwen_run = tmp_path / "qwen"
    data = config_data(token_run, qwen_run, steps=2)
    data["model"] |= {"qk_norm": True, "tied_embeddings": True}
    train(validate_train_config(data))
    tokens = torch.randint(0, 300, (2, 32), generator=torch.Generator().manual_seed(0))
    for checkpoint, architecture in [
        (reference / "checkpoints" / "step-0000020", "LlamaForCausalLM"),
        (qwen_run / "checkpoints" / "step-0000002", "Qwen3ForCausalLM"),
    ]:
        folder = export_hf(checkpoint, tmp_path / architecture)
        theirs = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        assert type(theirs).__name__ == architecture
        with torch.no_grad():
            diff = (
                (theirs(tokens).logits - load_model(checkpoint).logits(tokens)).abs().max().item()
            )
        print(f"{architecture}: max abs logit diff {diff:.2e}")
        assert diff <= 1e-4
        tokenizer = AutoTokenizer.from_pretrained(folder)
        ids = tokenizer("A lighthouse")["input_ids"]
        assert ids[0] == 1 and ids.count(1) == 1  # <|bos|> once, as training saw documents
        assert tokenizer.decode(ids, skip_special_tokens=True) == "A lighthouse"


def ngram_baselines(
    train_tokens: np.ndarray, windows: np.ndarray, vocab: int
) -> tuple[float, float]:
    """Cross-entropy (nats) on the validation targets of the unigram and of the bigram model
    estimated from the training tokens; the bigram is interpolated with the unigram at the
    weight that suits the validation set best, so it is the strongest bigram there is."""
    context, target = windows[:, :-1].ravel(), windows[:, 1:].ravel()
    unigram = (np.bincount(train_tokens, minlength=vocab) + 1) / (len(train_tokens) + vocab)
    pairs = np.bincount(train_tokens[:-1] * vocab + train_tokens[1:], minlength=vocab * vocab)
    pairs = pairs.reshape(vocab, vocab)
    conditional = pairs / np.maximum(pairs.sum(1, keepdims=True), 1)
    bigram = min(
        -np.log(w * conditional[context, target] + (1 - w) * unigram[target]).mean()
        for w in np.linspace(0.05, 0.95, 19)
    )
    return -np.log(unigram[target]).mean(), bigram


WIKITEXT_SEQ_LEN = 64
# ~600k tokens (about one epoch) in many small steps: enough for 2 layers of width 64.
WIKITEXT_TRAIN = {
    "steps": 1200,
    "global_batch_tokens": 512,
    "micro_batch_size": 8,
    "lr": 1e-2,
    "warmup_steps": 10,
    "log_every": 100,
}


@pytest.mark.slow
def test_tiny_model_beats_bigram_on_wikitext(corpora, local_ray, tmp_path):
    """Detokenised WikiText → a `format: text` pipeline run → token shards → training."""
    from filters.wikitext import HEADING, detokenize
    from tests.conftest import job, read_documents, run
    from trainer.data import read_tokens, validation_windows

    lines = (corpora / "text" / "wikitext-2-valid.txt").read_text().splitlines()
    text = tmp_path / "wikitext.txt"
    text.write_text("\n".join(line if HEADING.match(line) else detokenize(line) for line in lines))
    spec = {"source": "wikitext", "format": "text", "paths": [str(text)]}
    run(job(tmp_path / "docs", [{**spec, "split_on": r"^ = [^=].* = $"}]))
    articles = [doc["text"] for doc in read_documents(tmp_path / "docs")]
    assert len(articles) > 50
    tokens = write_token_run(
        tmp_path / "tokens", {"wikitext": articles[6:]}, {"wikitext": articles[:6]}, 300
    )

    data = config_data(tokens, tmp_path / "run", **WIKITEXT_TRAIN)
    data["data"] |= {"seq_len": WIKITEXT_SEQ_LEN, "val_tokens": 16384}
    data["checkpoint"] = {"every": 0}
    result = train(validate_train_config(data))
    train_tokens = np.concatenate([read_tokens(s) for s in train_shards(tokens)]).astype(np.int64)
    windows = validation_windows([tokens], WIKITEXT_SEQ_LEN, 16384)["wikitext"].numpy()
    unigram, bigram = ngram_baselines(train_tokens, windows, 300)
    print(f"wikitext val loss {result['val_loss']:.3f}; unigram {unigram:.3f}, bigram {bigram:.3f}")
    assert result["val_loss"] < bigram < unigram


@pytest.mark.slow
def test_one_and_two_processes_compute_alike_in_bf16(token_run, tmp_path):
    """One code path (FSDP2, a group of one in a single process): bf16 parameters and
    residual stream, fp32 reductions, whatever the number of ranks."""
    data = config_data(token_run, tmp_path / "one", steps=8)
    data["parallel"]["param_dtype"] = "bfloat16"
    data["checkpoint"] = {"enabled": False}
    train(validate_train_config(data))
    data["output"] = str(tmp_path / "two")
    config = write_config(data, tmp_path / "train.yaml")
    subprocess.run([*CLI, "train", str(config), "--nproc", "2"], env=ENV, check=True, timeout=300)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    gaps = [abs(one[s] - two[s]) / one[s] for s in one]
    print("relative loss gap per step, 1 vs 2 ranks, bf16:", " ".join(f"{g:.1e}" for g in gaps))
    assert sorted(two) == sorted(one) == list(range(1, 9))
    assert gaps[0] <= 1e-6 and max(gaps) <= 5e-5


def test_a_save_returns_before_its_write_and_keeps_the_state_of_its_step(token_run, tmp_path):
    trainer = Trainer(validate_train_config(config_data(token_run, tmp_path / "run")), "none")
    try:
        trainer.train_step(next(trainer.loader), 1e-3)
        before = {n: p.full_tensor().clone() for n, p in trainer.model.named_parameters()}
        trainer.save(1)
        final = tmp_path / "run" / "checkpoints" / "step-0000001"
        assert trainer.checkpointer.pending is not None and not final.exists()
        trainer.train_step(next(trainer.loader), 1e-3)  # training goes on while it is written
        assert trainer.checkpointer.finish() == final
        saved = load_model(final).state_dict()
        assert all(torch.equal(saved[name], tensor) for name, tensor in before.items())
        assert not all(
            torch.equal(p.full_tensor(), before[n]) for n, p in trainer.model.named_parameters()
        )
    finally:
        trainer.close()


class NotANumberWhenAsked(Pretraining):
    poisoned = False

    def loss(self, model, batch):
        loss, tokens, metrics = super().loss(model, batch)
        return (loss * float("nan") if self.poisoned else loss), tokens, metrics


def test_a_step_whose_loss_is_nan_is_skipped_by_the_optimizer(token_run, tmp_path):
    objective = NotANumberWhenAsked()
    config = validate_train_config(config_data(token_run, tmp_path / "run"))
    trainer = Trainer(config, "none", objective)
    try:
        trainer.train_step(next(trainer.loader), 1e-3)
        params = [p.full_tensor().clone() for p in trainer.model.parameters()]
        steps = [s["step"].clone() for s in trainer.optimizer.state.values()]
        objective.poisoned = True
        result = trainer.train_step(next(trainer.loader), 1e-3)
        assert not torch.isfinite(result["loss"]) and trainer.skipped_steps.item() == 1
        assert all(
            torch.equal(p.full_tensor(), q)
            for p, q in zip(trainer.model.parameters(), params, strict=True)
        )
        assert all(
            torch.equal(s["step"], t)
            for s, t in zip(trainer.optimizer.state.values(), steps, strict=True)
        )
        objective.poisoned = False
        assert torch.isfinite(trainer.train_step(next(trainer.loader), 1e-3)["loss"])
        assert not torch.equal(next(trainer.model.parameters()).full_tensor(), params[0])
    finally:
        trainer.close()


class NotANumberFrom(Pretraining):
    """A loss that is NaN from the `first` call on."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first, self.calls = first, 0

    def loss(self, model, batch):
        self.calls += 1
        loss, tokens, metrics = super().loss(model, batch)
        return (loss * float("nan") if self.calls >= self.first else loss), tokens, metrics


def test_a_run_skipping_step_after_step_stops_as_diverged_and_keeps_its_checkpoints(
    token_run, tmp_path, capsys
):
    data = config_data(token_run, tmp_path / "run", max_skipped_in_a_row=3)
    data["checkpoint"] = {"every": 2, "keep": 2}
    objective = NotANumberFrom(first=4 * 5 + 1)  # 4 micro-batches a step: from step 6 on
    with pytest.raises(TrainingError) as raised:
        train(validate_train_config(data), resume="none", objective=objective)
    message = str(raised.value)
    assert "diverged: the loss or gradient norm was not finite in the 3 steps up to step 8" in (
        message
    )
    assert message.endswith(f"the latest checkpoint is {tmp_path}/run/checkpoints/step-0000004")
    assert "step 6: not saved, the step was skipped" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-0000002",
        "step-0000004",
    ]


def test_a_run_that_skips_every_step_it_takes_fails(token_run, tmp_path):
    """Fewer steps than `max_skipped_in_a_row`, each skipped (a z-loss far too large): the
    run ended with exit 0 and the model it started from."""
    data = config_data(token_run, tmp_path / "run", steps=4, z_loss=1e300)
    with pytest.raises(TrainingError, match="not finite in the 4 steps up to step 4"):
        train(validate_train_config(data), resume="none")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_weights_that_are_not_finite_stop_the_run_before_it_saves_them(token_run, tmp_path):
    data = config_data(token_run, tmp_path / "run", lr=1e300, warmup_steps=0, log_every=5)
    data["checkpoint"] = {"every": 1}
    with pytest.raises(
        TrainingError, match="the weights are no longer finite numbers after step 1"
    ):
        train(validate_train_config(data), resume="none")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_validation_that_is_not_finite_stops_the_run(token_run, tmp_path):
    trainer = Trainer(validate_train_config(config_data(token_run, tmp_path / "run")), "none")
    try:
        with torch.no_grad():
            trainer.model.norm.weight.to_local().fill_(float("inf"))
        with pytest.raises(TrainingError, match=r"^the validation at step 3 is not finite \(val"):
            trainer.checked_validation(3)
    finally:
        trainer.close()


def test_runs_without_validation_tokens_say_so(token_run, tmp_path, capsys):
    """A run made with `mixture.validation: 0` validated nothing, with `val_every` set, and
    said nothing."""
    paragraphs = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    run = write_token_run(tmp_path / "tokens", {"wiki": paragraphs}, {}, 300)
    data = config_data(run, tmp_path / "run", steps=2, val_every=1)
    data["checkpoint"] = {"enabled": False}
    assert "val_loss" not in train(validate_train_config(data))
    assert "validation: none; no source of the runs holds the 33 validation tokens" in (
        capsys.readouterr().err
    )


def test_deterministic_mode_trains_alike(token_run, reference, tmp_path):
    data = config_data(token_run, tmp_path / "run")
    data["train"]["deterministic"] = True
    train(validate_train_config(data))
    assert losses(tmp_path / "run") == losses(reference)
    assert not torch.are_deterministic_algorithms_enabled()  # set back after the run


def test_saves_are_left_out_of_the_throughput(token_run, tmp_path, monkeypatch):
    """Starting and finishing a save each take 1000 s on the trainer's clock, so a window
    that counted either would show < 1 token/s. A clock of its own keeps the test from
    timing the machine: on a loaded CI runner a real step of a few ms has taken a second."""
    import trainer.train
    from trainer.checkpoint import Checkpointer

    lost = 0.0

    def clock() -> float:
        return time.perf_counter() + lost

    def slow(method):
        def wrapped(self, *args, **kwargs):
            nonlocal lost
            lost += 1000.0
            return method(self, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(trainer.train, "time", types.SimpleNamespace(perf_counter=clock))
    monkeypatch.setattr(Checkpointer, "save", slow(Checkpointer.save))
    monkeypatch.setattr(Checkpointer, "finish", slow(Checkpointer.finish))
    data = config_data(token_run, tmp_path / "run", steps=3)
    data["checkpoint"] = {"every": 1, "keep": 1}
    train(validate_train_config(data))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert lost >= 6000.0  # three saves, each started and finished
    # 256 tokens a step: true unless a step itself took over 100 s
    assert all(row["tokens_per_s"] > 2.56 for row in rows)


def test_a_second_run_into_a_training_folder_in_use_is_refused(token_run, tmp_path, capsys):
    """Two at once both resumed from and wrote the same checkpoints and metrics.jsonl."""
    from pipeline.cli import main as tokenmill
    from pipeline.output import RunOutput
    from pipeline.output_lock import locked

    data = config_data(token_run, tmp_path / "run", steps=2)
    config = write_config(data, tmp_path / "train.yaml")
    with locked(RunOutput(str(tmp_path / "run"))):  # the first run, still training
        assert tokenmill(["train", str(config)]) == 2
        assert f"output: {tmp_path / 'run'} is in use by another tokenmill run (pid" in (
            capsys.readouterr().err
        )
        assert not (tmp_path / "run" / "config.yaml").exists()
    assert tokenmill(["train", str(config)]) == 0  # once it is done
    assert tokenmill(["train", str(config), "--set", "train.steps=3", "--reschedule"]) == 0


def test_a_batch_that_does_not_split_over_the_ranks_is_a_config_error(token_run, tmp_path, capsys):
    from pipeline.cli import main as tokenmill

    config = write_config(config_data(token_run, tmp_path / "run"), tmp_path / "train.yaml")
    assert tokenmill(["train", str(config), "--nproc", "3"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "config error" in err and "does not split into 3 ranks" in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
