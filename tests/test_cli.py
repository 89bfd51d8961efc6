"""The `tokenmill` console script: every command has --help, and a run can be reported."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from rich.console import Console

from pipeline.cli import main, parser
from pipeline.console import labelled
from pipeline.json_log import JsonLog
from pipeline.tasks import ProgressLines
from support.token_runs import write_token_run
from tests.conftest import ROOT, SAMPLE, finished_shards, output_once_ended, run_cli, write_crawl

TOKENMILL = [sys.executable, "-m", "pipeline.cli"]


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple]:
    """Every command and subcommand of the parser, as argument lists."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("command", commands(parser()), ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tokenmill {' '.join(command)}".strip())


def runnable_modules() -> list[str]:
    """Every module of the repository that runs as `python -m MODULE`."""
    found = []
    for folder in sorted(ROOT.iterdir()):
        if not folder.is_dir() or folder.name.startswith(".") or folder.name == "tests":
            continue
        for path in sorted(folder.rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if path.name == "__main__.py" or '__name__ == "__main__"' in source:
                parts = path.relative_to(ROOT).with_suffix("").parts
                found.append(".".join(parts[:-1] if path.name == "__main__.py" else parts))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("module", runnable_modules())
def test_every_runnable_module_has_help(module, tmp_path):
    """`python -m pipeline.config_reference --help` wrote the reference to a file named
    `--help` (one was committed); a child process's module raised or waited on stdin."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout[:7]) == (0, "usage: "), done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["train", "job.yaml", "--nproc", "0"], "argument --nproc: 0 is less than 1"),
        (
            ["validate", "job.yaml", "--nproc", "two"],
            "argument --nproc: 'two' is not a whole number",
        ),
        (["submit", "job.yaml", "--nproc", "-2"], "argument --nproc: -2 is less than 1"),
        (
            ["lm", "cutoffs", "--model", "m", "--input", "i", "--output", "o", "--sample", "0"],
            "--sample: 0 is less than 1",
        ),
        (
            ["generate", "ckpt", "--prompt", "p", "--temperature", "-1"],
            "--temperature: -1.0 is not between 0 and inf",
        ),
        (
            ["generate", "ckpt", "--prompt", "p", "--top-p", "nan"],
            "--top-p: nan is not between 0 and 1",
        ),
        (
            ["lm", "train", "--input", "t.txt", "--output", "/"],
            "--output: / is a folder; give the path of the file to write",
        ),
        (  # was written to a local folder named s3:
            ["lm", "train", "--input", "t.txt", "--output", "s3://b/m.binary"],
            "--output: s3://b/m.binary: the file is written to a local path; copy it after",
        ),
        (
            ["lm", "train", "--input", "t", "--output", "o", "--order", "7"],
            "--order: 7 is more than 6",
        ),
        (
            ["lm", "train", "--input", "t", "--output", "o", "--prune", "0", "-1"],
            "-1 is less than 0",
        ),
        (
            [
                "classifier",
                "train",
                "--positive",
                "p",
                "--negative",
                "n",
                "--output",
                "o",
                "--valid-fraction",
                "1",
            ],
            "--valid-fraction: 1.0 is not between 0.0 and 0.5",
        ),
        # Bytes that are not UTF-8, as Python decodes the command line: a TypeError traceback
        # from the tokenizer (for `train --sample`, after the training).
        (["generate", "ckpt", "--prompt", "caf\udcc3"], "--prompt: b'caf\\xc3' is not UTF-8 text"),
        (["train", "t.yaml", "--sample", "\udcff"], "--sample: b'\\xff' is not UTF-8 text"),
        (["tokenizer", "show", "\udced\udca0\udc80"], "b'\\xed\\xa0\\x80' is not UTF-8 text"),
        # YAML's `character U+DCFF at 0: special characters are not allowed`, and pydantic's
        # `unable to parse raw data as a unicode string`.
        (["validate", "c.yaml", "--set", "name=\udcff"], "--set: b'name=\\xff' is not UTF-8 text"),
        (["run", "c.yaml", "--output", "o\udcff"], "--output: b'o\\xff' is not UTF-8 text"),
    ],
)
def test_an_argument_out_of_range_is_refused_before_anything_runs(arguments, error, capsys):
    with pytest.raises(SystemExit) as done:
        main(arguments)
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().endswith(error)


MODEL = str(ROOT / "data" / "models" / "wiki-en.binary")


@pytest.mark.parametrize(
    "command",
    [
        ["lm", "train", "--input", "t.txt", "--output"],
        ["lm", "cutoffs", "--model", MODEL, "--input", "t.txt", "--output"],
        ["classifier", "train", "--positive", "p.txt", "--negative", "n.txt", "--output"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_model_file_whose_folder_cannot_be_made_is_refused_before_its_work(
    command, tmp_path, monkeypatch, capsys
):
    """Each said `error: [Errno 1] Operation not permitted: '/sys/…'` (exit 1) after its
    work (lmplz, fastText, scoring). /sys refuses a new folder to root too."""
    monkeypatch.chdir(tmp_path)
    for name, words in (("t", "the cat sat on the mat"), ("p", "good words"), ("n", "bad")):
        Path(f"{name}.txt").write_text(f"{words}\n" * 50)
    (tmp_path / "file").touch()
    for folder, problem in (
        ("/sys/tokenmill-test", "/sys/tokenmill-test cannot be made: Operation not permitted"),
        (tmp_path / "file", f"{tmp_path / 'file'} is a file, not a folder"),
    ):
        assert main([*command, f"{folder}/model"]) == 2
        assert capsys.readouterr().err.replace("\n", "") == f"config error: --output: {problem}"


def test_a_config_run_from_another_folder_says_where_its_relative_paths_are(
    tmp_path, monkeypatch, capsys
):
    """A checkout's config run from elsewhere named a missing file under the current folder,
    and nothing said that relative paths are read from there; nor where a path climbs out of
    the checkout (`../shared/corpora/...`, as the bundled configs name the corpora)."""
    project, elsewhere = tmp_path / "project", tmp_path / "a" / "elsewhere"
    (project / "configs").mkdir(parents=True)
    (project / "data").mkdir()
    (tmp_path / "shared").mkdir()
    elsewhere.mkdir(parents=True)
    (project / "data" / "in.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "shared" / "in.jsonl").write_text('{"text": "a"}\n')
    config = project / "configs" / "job.yaml"
    job = {"name": "j", "output": "runs/j", "inputs": [{"source": "s", "format": "jsonl"}]}
    job["inputs"][0]["paths"] = ["data/*.jsonl"]
    config.write_text(yaml.safe_dump(job))
    monkeypatch.chdir(elsewhere)
    assert main(["validate", str(config)]) == 2
    assert (
        capsys.readouterr()
        .err.replace("\n", "")
        .endswith(
            f"matches no file; relative paths are read from the current folder ({elsewhere}): run "
            f"from {project}, where data/*.jsonl is"
        )
    )
    job["inputs"][0]["paths"] = ["../shared/in.jsonl"]
    config.write_text(yaml.safe_dump(job))
    assert main(["validate", str(config)]) == 2
    said = capsys.readouterr().err.replace("\n", "")
    assert said.endswith(f"run from {project}, where ../shared/in.jsonl is"), said
    job["inputs"][0]["paths"] = ["data/*.parquet"]  # nowhere: no folder to suggest
    config.write_text(yaml.safe_dump(job))
    assert main(["validate", str(config)]) == 2
    assert "relative paths" not in capsys.readouterr().err
    monkeypatch.chdir(project)
    job["inputs"][0]["paths"] = ["data/*.jsonl"]
    config.write_text(yaml.safe_dump(job))
    assert main(["validate", str(config)]) == 0


def test_an_object_store_larger_than_the_machine_is_refused_naming_the_key(tmp_path):
    """Ray refused to start with a traceback naming `ray.init(memory=..., object_store_memory=...)`."""
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    job = {"name": "j", "output": str(tmp_path / "out"), "inputs": [{"source": "s"}]}
    job["inputs"][0] |= {"format": "jsonl", "paths": [str(tmp_path / "in.jsonl")]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    done = run_cli(
        ["run", str(tmp_path / "job.yaml"), "--set", "execution.object_store_mb=99999999"]
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "config error: execution.object_store_mb: 99,999,999 MB leaves Ray's tasks no memory"
    )


def test_an_address_where_nothing_answers_is_one_line_at_once(tmp_path):
    """Ray retried a GCS address where nothing listens for ever, printing a warning every
    few seconds (a head that is down, a wrong port); Ray Client waited 30 s, and both
    they and the Jobs API named token authentication as a likely cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    job = {"name": "j", "output": str(tmp_path / "out"), "inputs": [{"source": "s"}]}
    job["inputs"][0] |= {"format": "jsonl", "paths": [str(tmp_path / "in.jsonl")]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    for command, address, default in (
        (["run", str(tmp_path / "job.yaml")], f"127.0.0.1:{port}", 6379),
        (["run", str(tmp_path / "job.yaml")], f"ray://127.0.0.1:{port}", 10001),
        (["jobs", "list"], f"http://127.0.0.1:{port}", 8265),
    ):
        done = run_cli([*command, "--address", address], timeout=60)
        assert done.returncode == 2
        assert done.stderr.replace("\n", "") == (
            f"config error: --address {address}: nothing answers there (Connection refused); "
            f"is the cluster's head running (ray start --head), and is {port} its port "
            f"({default} by default)?"
        )


def test_the_console_script_starts():
    done = subprocess.run([*TOKENMILL, "train", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: tokenmill train" in done.stdout, done.stderr


@pytest.mark.ray
def test_run_then_report_from_the_command_line(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: cli\n"
        f"output: {tmp_path / 'unused'}\n"
        f"inputs: [{{source: wiki, format: jsonl, paths: ['{SAMPLE / 'wiki.jsonl'}']}}]\n"
        "stages: []\n"
        "execution: {workers: 1}\n"
    )
    out = tmp_path / "[old]out:a:"  # rich took it for markup and an emoji: `/out🅰`
    done = subprocess.run(
        [*TOKENMILL, "run", str(config), "--output", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'report' / 'report.json'}" in done.stderr
    assert "shards 1/1, 40 documents (" in done.stderr  # off a terminal: a line, no bar
    shown = subprocess.run(
        [*TOKENMILL, "report", str(out), "--json"], capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["documents"] == 40
    bad = subprocess.run(
        [*TOKENMILL, "run", str(config), "--set", "stages.nope.x=1"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "nope" in bad.stderr


def _ctrl_c_as_on_a_terminal() -> None:
    """A suite started in the background (`nohup make test-slow &`) ignores SIGINT, and its
    children inherit that: the run would never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.ray
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_ends_with_one_line_and_a_rerun_resumes(tmp_path, stop):
    """The signal comes once the first of 6 shards is done, so the run is mid-way (the
    sample's 3 shards could all be done a second after the run started). SIGTERM (`kill`,
    `tokenmill jobs stop`) ended the run in Ray's handler, which printed `*** SIGTERM
    received` and a stack address."""
    config = tmp_path / "job.yaml"
    write_crawl(tmp_path)
    config.write_text(
        f"name: interrupted\noutput: {tmp_path / 'out'}\n"
        f"inputs: [{{source: web, format: warc, paths: ['{tmp_path}/*.warc.gz'], "
        "shard_bytes: 0}]\n"  # a shard per file: 6, not the 1 its small files would share
        "stages: [extract]\nexecution: {workers: 1, batch_size: 8}\n"
    )
    run = subprocess.Popen(
        [*TOKENMILL, "run", str(config)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_on_a_terminal,
    )
    state = tmp_path / "out" / "_state" / "shards"
    while not (state.is_dir() and finished_shards(state)) and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(stop)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")
    assert "Traceback" not in stderr and "***" not in stderr
    rerun = subprocess.run([*TOKENMILL, "run", str(config)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]


@pytest.mark.ray
def test_kill_while_ray_starts_ends_with_one_line(tmp_path):
    """`ray.init` set a SIGTERM handler that exits with status 15 before it started Ray's
    processes: a `kill` in the seconds a run's Ray takes to start ended it silently. The
    signal comes once Ray's GCS runs, while `ray.init` goes on."""
    config = tmp_path / "job.yaml"
    config.write_text(
        f"name: starting\noutput: {tmp_path / 'out'}\n"
        f"inputs: [{{source: wiki, format: jsonl, paths: ['{SAMPLE / 'wiki.jsonl'}']}}]\n"
        "stages: []\nexecution: {workers: 1}\n"
    )
    run = subprocess.Popen(
        [*TOKENMILL, "run", str(config)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    process = psutil.Process(run.pid)
    while run.poll() is None and not any(
        "gcs_server" in child.name() for child in process.children(recursive=True)
    ):
        time.sleep(0.01)
    run.send_signal(signal.SIGTERM)
    _, stderr = output_once_ended(run, 60)
    assert run.returncode == 130, stderr[-2000:]
    assert stderr.strip() == "interrupted: rerun the same command to resume"


def test_progress_off_a_terminal_is_lines_with_the_rate_and_an_eta():
    out = io.StringIO()
    with ProgressLines(Console(file=out, width=200), counted="documents", interval=0.05) as lines:
        task = lines.add_task("shards", total=4, documents=0)
        lines.update(task, advance=1, documents=1000)
        time.sleep(0.5)  # a long shard: lines go on meanwhile
        for done in range(2, 5):
            lines.update(task, advance=1, documents=done * 1000)
        time.sleep(0.2)  # an ended step prints nothing more
    printed = out.getvalue().splitlines()
    assert len(printed) >= 4 and "\r" not in out.getvalue()
    *running, last = printed
    assert all(
        re.fullmatch(r"shards 1/4, 1,000 documents \([\d,]+/s\), ETA \d+:\d\d:\d\d", line)
        for line in running
    ), running
    assert re.fullmatch(r"shards 4/4, 4,000 documents \([\d,]+/s\), \d+:\d\d:\d\d", last)


def test_training_into_a_pipeline_run_or_someone_elses_folder_is_refused(
    tmp_path, capsys, monkeypatch
):
    """Its config.yaml, metrics.jsonl, tb/ and checkpoints/ would overwrite a user's files
    of those names: the output is new, empty, or a training run's."""
    run = write_token_run(tmp_path / "tokens", {"wiki": ["one text"] * 20}, {"wiki": ["held"]})
    (run / "_state").mkdir()  # what makes a folder a pipeline run
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": str(run),
                "data": {"runs": [{"path": str(run)}]},
                "model": {"preset": "tiny"},
                "train": {"steps": 1, "global_batch_tokens": 256, "micro_batch_size": 1},
            }
        )
    )
    project = tmp_path / "project"
    (project / "checkpoints").mkdir(parents=True)
    (project / "notes.md").write_text("mine")
    monkeypatch.chdir(project)
    for output, problem in (
        (run, "holds a pipeline run"),
        (project, "is the current folder"),
        (
            tmp_path,
            "holds files that are not a tokenmill training run (project, tokens, train.yaml)",
        ),
        (project / "notes.md", "is a file"),
        (Path(tmp_path.anchor), "is the root folder"),
    ):
        assert main(["train", str(config), "--output", str(output)]) == 2
        printed = " ".join(capsys.readouterr().err.split())
        assert printed == (
            f"config error: output: {output} {problem}; give the training run a folder of its "
            "own (e.g. runs/train-NAME)"
        )
    assert not (run / "checkpoints").exists() and (project / "notes.md").read_text() == "mine"
    # /sys refuses a new folder to root too, as a folder without write permission does
    assert main(["train", str(config), "--output", "/sys/tokenmill-test-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "config error: output: /sys/tokenmill-test-run cannot be made: Operation not permitted"
    )


def test_json_logs_are_one_object_per_line_with_the_progress_numbers(capsys):
    out = io.StringIO()
    with ProgressLines(JsonLog(out), counted="documents", interval=10) as lines:
        task = lines.add_task("shards", total=2, documents=0)
        lines.update(task, advance=2, documents=40)
    JsonLog(out).print(labelled("error", "a message"), highlight=False)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"].startswith("shards 2/2, 40 documents (")
    assert (first["step"], first["done"], first["total"], first["documents"]) == (
        "shards",
        2,
        2,
        40,
    )
    assert second["message"] == "error: a message" and second["time"].endswith("+00:00")
    assert main(["run", "missing.yaml", "--log-format", "json"]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert json.loads(error)["message"] == "config error: missing.yaml: config file not found"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_paths_print_as_they_are_not_as_markup_or_emoji(log_format, capsys):
    """`[/x]` in a file name raised rich's MarkupError, `[old]` vanished, `:a:` became 🅰."""
    for name in ("runs/[/x]/job.yaml", "runs/[old]/x:a:.yaml"):
        assert main(["run", name, "--log-format", log_format]) == 2
        printed = capsys.readouterr().err.strip()
        message = json.loads(printed)["message"] if log_format == "json" else printed
        assert message == f"config error: {name}: config file not found"
