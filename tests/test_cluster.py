"""A real Ray cluster: `ray start --head` on loopback with token authentication, from a
folder other than the checkout, joined by `tokenmill run --address` (Ray Client and a driver
on the node), `tokenmill submit` and `tokenmill jobs`; an embedded run beside it stays
embedded. The head has its own temp dir, ports and token, and is stopped by its own
processes, never by Ray's stop-everything command."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from support.token_runs import write_token_run
from tests.conftest import ROOT, SAMPLE, output_once_ended, training_after_two_steps
from tests.ray_head import Head, can_hide_folders, ray_head, second_node
from trainer.config import validate_train_config
from trainer.train import train

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TOKENMILL = [sys.executable, "-m", "pipeline.cli"]


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> Head:
    with ray_head(tmp_path_factory) as started:
        yield started


def write_config(folder: Path, output: Path) -> Path:
    """One WARC, by the relative path the quickstart uses (resolved where it is loaded)."""
    config = {
        "name": "cluster",
        "output": str(output),
        "inputs": [{"source": "web", "format": "warc", "paths": ["data/sample/web-000.warc.gz"]}],
        "stages": [{"extract": {}}, {"dedup": {"exact": True}}],
        "execution": {"workers": 2},
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tokenmill(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TOKENMILL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def documents(out: Path) -> list[tuple[str, str]]:
    return sorted(
        (row["id"], row["text"])
        for path in (out / "documents").glob("*.parquet")
        for row in pq.read_table(path, columns=["id", "text"]).to_pylist()
    )


def drivers(head: Head) -> int:
    """Drivers that have connected to the head (Ray's state API)."""
    done = run_python(
        "from ray.util.state import list_jobs\n"
        f"print(sum(str(j.type).endswith('DRIVER') for j in list_jobs(address='{head.dashboard}')))",
        head.env,
    )
    return int(done.stdout.split()[-1])


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_runs_join_the_cluster_and_an_embedded_run_stays_embedded(head, tmp_path):
    config = write_config(tmp_path, tmp_path / "embedded")
    # Where Ray looks for "the cluster of this machine": the old embedded run joined it.
    beside = {**head.env, "RAY_TMPDIR": str(head.temp_dir.parent)}
    before = drivers(head)
    embedded = tokenmill(["run", str(config)], beside)
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert drivers(head) == before
    expected = documents(tmp_path / "embedded")
    assert len(expected) > 20
    for form, address in (("client", head.client), ("gcs", head.gcs)):
        out = tmp_path / form
        done = tokenmill(["run", str(config), "--address", address, "--output", str(out)], head.env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert documents(out) == expected, form
    assert drivers(head) == before + 2


def test_submit_runs_a_job_and_jobs_follow_and_stop_it(head, tmp_path):
    out = tmp_path / "submitted"
    config = write_config(tmp_path, out)
    address = ["--address", head.dashboard]
    submitted = tokenmill(["submit", str(config), *address], head.env)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    job = submitted.stdout.split()[-1]
    followed = tokenmill(["jobs", "logs", job, "--follow", *address], head.env)
    assert "report.json" in followed.stdout  # --follow printed the run's output until it ended
    assert status_of(job, head) == "SUCCEEDED", followed.stdout[-3000:]
    assert followed.returncode == 0 and followed.stderr.endswith(f"job {job}: SUCCEEDED\n")
    assert "report.json" in tokenmill(["jobs", "logs", job, *address], head.env).stdout
    listed = tokenmill(["jobs", "list", *address], head.env).stdout
    assert job in listed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["git_sha"] and manifest["inputs"][0]["path"] == str(
        ROOT / "data" / "sample" / "web-000.warc.gz"
    )
    assert len(documents(out)) > 20
    slow = tokenmill(
        ["submit", str(config), *address, "--output", str(tmp_path / "stopped")], head.env
    )
    stopped = slow.stdout.split()[-1]
    assert tokenmill(["jobs", "stop", stopped, *address], head.env).returncode == 0
    followed = tokenmill(["jobs", "logs", stopped, "--follow", *address], head.env)
    assert status_of(stopped, head) == "STOPPED"
    assert followed.returncode == 1 and followed.stderr.endswith(f"job {stopped}: STOPPED\n")


def status_of(job: str, head: Head) -> str:
    status = tokenmill(["jobs", "status", job, "--address", head.dashboard], head.env)
    return status.stdout.strip()


def test_a_wrong_token_is_one_line_naming_what_to_set(head, tmp_path):
    config = write_config(tmp_path, tmp_path / "refused")
    # Ray retries the GCS for 20 s before it gives up; 2 tries are enough here.
    wrong = {**head.env, "RAY_AUTH_TOKEN": "not-the-token", "RAY_gcs_server_port_wait_time_s": "2"}
    done = tokenmill(["run", str(config), "--address", head.gcs], wrong)
    assert done.returncode == 2
    assert "cannot join the cluster" in done.stderr and "RAY_AUTH_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    submitted = tokenmill(["submit", str(config), "--address", head.dashboard], wrong)
    assert submitted.returncode == 2
    assert "refused" in submitted.stderr and "RAY_AUTH_TOKEN" in submitted.stderr
    assert "Traceback" not in submitted.stderr


def test_train_runs_its_ranks_on_ray_train(head, local_ray, tmp_path):
    """`tokenmill train --address`: two Ray Train workers, FSDP2 over gloo, compute what
    one process computes; with a second Ray on the machine (this process's), as quietly."""
    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    paragraphs = [p for text in articles for p in text.split("\n\n") if p.strip()]
    run = write_token_run(tmp_path / "tokens", {"wiki": paragraphs[10:]}, {"wiki": paragraphs[:10]})
    config = {
        "data": {"runs": [{"path": str(run)}], "seq_len": 32, "val_tokens": 512},
        "model": {"preset": "tiny"},
        "train": {"steps": 6, "global_batch_tokens": 128, "micro_batch_size": 2, "log_every": 1},
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 6, "keep": 1},
    }
    train(validate_train_config({**config, "output": str(tmp_path / "one")}))
    path = tmp_path / "train.yaml"
    # Paths relative to the folder the command runs in, which the ranks do not start in.
    config["data"]["runs"] = [{"path": os.path.relpath(run, ROOT)}]
    path.write_text(yaml.safe_dump({**config, "output": os.path.relpath(tmp_path / "ray", ROOT)}))
    done = tokenmill(["train", str(path), "--address", head.gcs, "--nproc", "2"], head.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("step 6/6 loss") == 1  # Ray Train's print patch sent it twice
    # Ray Train's PlacementGroupCleaner found two Rays here and printed a traceback.
    assert "Traceback" not in done.stderr
    ours, theirs = losses(tmp_path / "ray"), losses(tmp_path / "one")
    assert sorted(ours) == list(range(1, 7))
    assert [ours[step] for step in ours] == pytest.approx([theirs[s] for s in ours], rel=1e-4)
    assert len(list((tmp_path / "ray" / "checkpoints" / "step-0000006").glob("rank-*.pt"))) == 2
    # The same command again resumes, finding nothing left to train: it was refused, the
    # folder holding Ray Train's own (OUT/ray) as "files that are not a training run".
    again = tokenmill(["train", str(path), "--address", head.gcs, "--nproc", "2"], head.env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stdout + again.stderr
    # Ctrl-C: Ray Train's handler stops the ranks and exits; `kill` (or `tokenmill jobs stop`
    # of a submitted training) does what Ctrl-C does: it died in Ray's handler, which printed
    # `*** SIGTERM received` and a stack address. Either way the command says so on one line.
    config["train"]["steps"] = 100_000
    for stop in (signal.SIGINT, signal.SIGTERM):
        output = tmp_path / f"stopped-{stop.name}"
        path.write_text(yaml.safe_dump({**config, "output": str(output)}))
        command = [*TOKENMILL, "train", str(path), "--address", head.gcs, "--nproc", "2"]
        stopped = training_after_two_steps(command, output, cwd=ROOT, env=head.env)
        metrics = output / "metrics.jsonl"
        stopped.send_signal(stop)
        _, stderr = output_once_ended(stopped, 120)
        assert stopped.returncode == 130, stderr[-3000:]
        assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")
        assert "***" not in stderr
        logged = metrics.read_text()
        time.sleep(3)
        assert metrics.read_text() == logged  # no rank trains on
    # More ranks than the cluster has CPUs: said in one line, and `kill` stops the wait (Ray
    # Train's own handler waited for ever on a controller waiting for resources).
    config["train"]["global_batch_tokens"] = 192  # 6 sequences, which 3 ranks split
    path.write_text(yaml.safe_dump({**config, "output": str(tmp_path / "three")}))
    command = [*TOKENMILL, "train", str(path), "--address", head.gcs, "--nproc", "3"]
    waiting = subprocess.Popen(command, cwd=ROOT, env=head.env, stderr=subprocess.PIPE, text=True)
    told = "warning: --nproc 3: the cluster has 2 CPUs, and each rank takes one"
    while told not in (line := waiting.stderr.readline()):
        assert line, "no warning"
    waiting.send_signal(signal.SIGTERM)
    _, stderr = output_once_ended(waiting, 60)
    assert waiting.returncode == 130, stderr[-3000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")


def test_ranks_are_counted_against_the_cluster_s_cpus(local_ray):
    """On a Ray with two CPUs and no GPU: two runs of one rank at once, one of two; three
    ranks are more than it has, said in one line before Ray Train waits for them."""
    from pipeline.ray_train import short_of_ranks, trainings_the_cluster_holds

    assert [trainings_the_cluster_holds(nproc) for nproc in (1, 2, 3)] == [2, 1, 1]
    assert short_of_ranks(2) is None
    assert short_of_ranks(3) == (
        "--nproc 3: the cluster has 2 CPUs, and each rank takes one; Ray Train waits until it "
        "has 3 (nodes an autoscaler adds), saying so each minute; Ctrl-C stops it"
    )


def test_runs_trained_at_once_end_each_on_its_own(local_ray, tmp_path):
    """`launch_at_once` on a Ray with two CPUs: two Ray Train runs go at once, each from a
    Ray task; one whose token run holds a shard its manifest does not list ends with that
    one-line error, and the other trains on to its last step, as it trains alone."""
    from pipeline.launch import launch_at_once, train_config
    from trainer.data import ShardError

    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    paragraphs = [p for text in articles for p in text.split("\n\n") if p.strip()]
    good = write_token_run(tmp_path / "good", {"wiki": paragraphs[10:]}, {"wiki": paragraphs[:10]})
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    shutil.copy(next((bad / "tokens").glob("train-*.parquet")), bad / "tokens" / "stray.parquet")
    settings = {
        "data": {"seq_len": 32, "val_tokens": 512},
        "model": {"preset": "tiny"},
        "train": {"steps": 4, "global_batch_tokens": 128, "micro_batch_size": 2, "log_every": 1},
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"every": 4, "keep": 1},
    }
    configs = {
        name: train_config(
            {
                **settings,
                "data": {**settings["data"], "runs": [{"path": str(run)}]},
                "output": str(tmp_path / f"train-{name}"),
            },
            name,
        )
        for name, run in (("good", good), ("bad", bad))
    }
    started: list[str] = []
    ended = dict(launch_at_once(configs, 1, "auto", 2, started.append))
    assert started == ["good", "bad"] and ended["good"] is None
    assert isinstance(ended["bad"], ShardError)
    assert str(ended["bad"]).startswith(f"{bad / 'tokens' / 'stray.parquet'}: a shard ")
    alone = tmp_path / "alone"
    train(validate_train_config({**configs["good"].to_dict(), "output": str(alone)}))
    assert losses(tmp_path / "train-good") == losses(alone)


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


def test_post_training_runs_its_ranks_on_ray_train(head, tmp_path):
    """`tokenmill dpo --address`: two Ray Train workers, each with its policy shard and its
    own reference pass, compute what one process computes; a rank that cannot start says why
    on one line."""
    from support.chat_tasks import preference_records, split_numbers, write_jsonl, write_tokenizer
    from trainer.posttrain import train as posttrain

    numbers, held_out = split_numbers(64, 16)
    config = {
        "kind": "dpo",
        "data": {
            "train": str(write_jsonl(preference_records(numbers), tmp_path / "pairs.jsonl")),
            "val": str(write_jsonl(preference_records(held_out), tmp_path / "val.jsonl")),
            "val_examples": 16,
            "tokenizer": str(write_tokenizer(tmp_path / "tokenizer.json")),
            "seq_len": 24,
        },
        "model": {"preset": "tiny"},
        "train": {"steps": 4, "global_batch_tokens": 24 * 8, "micro_batch_size": 2, "log_every": 1},
        "parallel": {"param_dtype": "float32", "cpu_threads": 1},
        "checkpoint": {"enabled": False},
    }
    posttrain(validate_train_config({**config, "output": str(tmp_path / "one")}))
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump({**config, "output": str(tmp_path / "ray")}))
    done = tokenmill(["dpo", str(path), "--address", head.gcs, "--nproc", "2"], head.env)
    assert done.returncode == 0, done.stderr[-3000:]
    ours, theirs = losses(tmp_path / "ray"), losses(tmp_path / "one")
    assert sorted(ours) == [1, 2, 3, 4]
    assert [ours[step] for step in ours] == pytest.approx([theirs[s] for s in ours], rel=1e-4)
    # A rank's own error ends the command on its one line, not on Ray's report of it.
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    config["data"]["train"] = str(empty)
    path.write_text(yaml.safe_dump({**config, "output": str(tmp_path / "empty")}))
    done = tokenmill(["dpo", str(path), "--address", head.gcs, "--nproc", "2"], head.env)
    assert done.returncode == 1
    assert f"training error: {empty}: no pairs to train on" in done.stderr
    assert not any(line.startswith("ray.train.") for line in done.stderr.splitlines())
    # Nor the page of Ray Train's notes and each rank's traceback above it (59 lines).
    for page in ("FailurePolicy", "Error in training function", "trainer.errors.TrainingError"):
        assert page not in done.stderr


@pytest.mark.skipif(not can_hide_folders(), reason="needs mount namespaces (root)")
def test_a_path_a_node_does_not_see_is_refused_before_work(head, tmp_path):
    """A second node to which a folder is a disk of its own. An output there failed the run
    at its first phase on a `No such file` under `_work/`; a model there errored every
    document of the node's shards; training ranks there would write their parts of a
    checkpoint where no other rank looks. Now each is one line before any work."""
    hidden, node = tmp_path / "hidden", tmp_path / "node"
    hidden.mkdir()
    node.mkdir()
    shutil.copy(ROOT / "data" / "models" / "quality.ftz", hidden)
    config = write_config(tmp_path, hidden / "out")
    with_model = yaml.safe_load(config.read_text())
    with_model["stages"].insert(1, {"classifier": {"model": str(hidden / "quality.ftz")}})
    model_config = tmp_path / "model.yaml"
    model_config.write_text(yaml.safe_dump({**with_model, "output": str(tmp_path / "m")}))
    articles = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    run = write_token_run(tmp_path / "tokens", {"wiki": articles[2:]}, {"wiki": articles[:2]})
    training = tmp_path / "train.yaml"
    training.write_text(
        yaml.safe_dump(
            {
                "data": {"runs": [{"path": str(run)}], "seq_len": 32, "val_tokens": 512},
                "model": {"preset": "tiny"},
                "train": {"steps": 2, "global_batch_tokens": 128, "micro_batch_size": 2},
                "checkpoint": {"folder": str(hidden / "checkpoints")},
                "output": str(tmp_path / "train"),
            }
        )
    )
    shutil.copytree(run, hidden / "tokens")
    hidden_run = tmp_path / "hidden-run.yaml"
    hidden_run.write_text(
        training.read_text()
        .replace(str(run), str(hidden / "tokens"))
        .replace(str(hidden / "checkpoints"), str(tmp_path / "t" / "checkpoints"))
    )
    shared = tmp_path / "shared"
    with second_node(head, node, hidden):
        commands = {
            "output": ["run", str(config)],
            "model": ["run", str(model_config)],
            "checkpoint": ["train", str(training), "--nproc", "2"],
            "data": ["train", str(hidden_run), "--nproc", "2", "--output", str(tmp_path / "t")],
            "shared": ["run", str(config), "--output", str(shared)],
        }
        done = {
            name: tokenmill([*args, "--address", head.gcs], head.env)
            for name, args in commands.items()
        }
    refusals = {
        "output": f"output: {hidden / 'out'} is not the same folder",
        "model": f"stages.classifier: {hidden / 'quality.ftz'} is not the same file",
        "checkpoint": f"checkpoint.folder: {hidden / 'checkpoints'} is not the same folder",
        "data": f"data.runs.0.path: {hidden / 'tokens' / 'tokens' / 'manifest.json'} is not "
        "the same file",
    }
    seen = {
        "output": "do not find a file this machine wrote there; a cluster's nodes need it on "
        "a shared file system",
        "model": r"do not find it with its [0-9,]+ bytes; a cluster's nodes need it at this "
        r"path on each \(a shared file system, or the same copy on every node\)",
    }
    seen["checkpoint"], seen["data"] = seen["output"], seen["model"]
    for name, refusal in refusals.items():
        assert done[name].returncode == 2, done[name].stderr[-3000:]
        assert re.fullmatch(
            rf"config error: {re.escape(refusal)} on every node: 1 of 2 nodes "
            rf"\(\S+ \([0-9a-f]{{8}}\)\) {seen[name]} or in object storage \(s3://, gs://\)",
            done[name].stderr.strip().splitlines()[-1],
        ), name
    assert not list((hidden / "out").glob("_state/shards/*"))
    assert not (tmp_path / "train" / "metrics.jsonl").exists()
    assert done["shared"].returncode == 0, done["shared"].stderr[-3000:]
    assert len(documents(shared)) > 20


def test_an_ablation_runs_its_pipelines_and_trainings_on_the_cluster(head, tmp_path):
    """`tokenmill ablate --address`: the variants' pipeline runs and then their Ray Train
    runs, two at a time on the cluster's two CPUs, score as the same ablation run in one
    process, and as one submitted as a Ray Job (its configs inline). Stopped while both
    train, it stops both."""
    from pipeline.ablation.config import load_ablation
    from pipeline.ablation.run import run_ablation
    from tests.test_ablation import write_configs

    config = write_configs(tmp_path, seeds=[0])
    done = tokenmill(["ablate", str(config), "--address", head.gcs, "--json"], head.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trainings: 2 on the cluster, up to 2 at a time" in done.stderr
    assert finished_tasks("held_out_nats", head) == 4  # 2 checkpoints of each run, scored there
    assert_both_train_at_once_and_stop_together(config, tmp_path / "ablation", head)
    on_cluster = json.loads((tmp_path / "ablation" / "report" / "comparison.json").read_text())
    assert json.loads(done.stdout) == on_cluster
    for variant in ("baseline", "no-dedup"):
        assert (tmp_path / "ablation" / variant / "seed-0" / "ray").is_dir()  # Ray Train's
    here = run_ablation(load_ablation(str(config), [f"output={tmp_path / 'here'}"]))
    submitted = tokenmill(
        ["submit", str(config), "--address", head.dashboard, "--output", str(tmp_path / "job")],
        head.env,
    )
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    job = submitted.stdout.split()[-1]
    followed = tokenmill(["jobs", "logs", job, "--follow", "--address", head.dashboard], head.env)
    assert status_of(job, head) == "SUCCEEDED", followed.stdout[-3000:]
    as_a_job = json.loads((tmp_path / "job" / "report" / "comparison.json").read_text())
    for comparison in (here, as_a_job):
        for ours, theirs in zip(on_cluster["variants"], comparison["variants"], strict=True):
            assert ours["bits_per_byte"] == pytest.approx(theirs["bits_per_byte"], rel=1e-4)


def finished_tasks(function: str, head: Head) -> int:
    """How many tasks of `function` the cluster has finished, by its state API."""
    count = (
        "import sys; from ray.util.state import list_tasks; "
        "print(len(list_tasks(address=sys.argv[1], limit=10_000, filters=["
        "('func_or_class_name', '=', sys.argv[2]), ('state', '=', 'FINISHED')])))"
    )
    listed = subprocess.run(
        [sys.executable, "-c", count, head.dashboard, function],
        env=head.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    return int(listed.stdout)


def assert_both_train_at_once_and_stop_together(config: Path, finished: Path, head: Head) -> None:
    """The ablation again with trainings too long to end, its pipeline runs copied from the
    finished one: both variants' trainings log steps while neither has ended, and `kill`
    (as Ctrl-C) stops the command and both, their Ray tasks cancelled."""
    from pipeline.output import RunOutput

    stopped = finished.parent / "stopped"
    stopped.mkdir()
    shutil.copy(finished / "ablation.yaml", stopped)
    variants = ("baseline", "no-dedup")
    for variant in variants:
        RunOutput(str(finished / variant / "run")).copy_run(str(stopped / variant / "run"))
    command = [
        *TOKENMILL,
        *("ablate", str(config), "--address", head.gcs),
        *("--set", f"output={stopped}", "--set", "training_set={train.steps: 100000}"),
    ]
    ablating = subprocess.Popen(
        command,
        cwd=ROOT,
        env=head.env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    metrics = [stopped / variant / "seed-0" / "metrics.jsonl" for variant in variants]
    deadline = time.monotonic() + 300
    try:
        while not all(m.is_file() and m.read_text().count("\n") >= 2 for m in metrics):
            assert ablating.poll() is None, ablating.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the two trainings never trained at once"
            time.sleep(0.1)
    except AssertionError:
        ablating.kill()
        raise
    ablating.send_signal(signal.SIGTERM)
    _, stderr = output_once_ended(ablating, 120)
    assert ablating.returncode == 130, stderr[-3000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")
    logged = [m.read_text() for m in metrics]
    time.sleep(3)
    assert [m.read_text() for m in metrics] == logged  # no rank trains on
