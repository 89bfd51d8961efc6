"""The `tokenmill` console script: every command has --help, and a run can be reported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import SAMPLE

TOKENMILL = [sys.executable, "-m", "pipeline.cli"]


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["report"], ["lm", "train"], ["lm", "cutoffs"], ["classifier", "train"]],
)
def test_every_command_has_help(command):
    done = subprocess.run([*TOKENMILL, *command, "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: tokenmill" in done.stdout


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
    out = tmp_path / "out"
    done = subprocess.run(
        [*TOKENMILL, "run", str(config), "--output", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "report.json" in done.stderr
    shown = subprocess.run(
        [*TOKENMILL, "report", str(out), "--json"], capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["documents"] == 40
    bad = subprocess.run(
        [*TOKENMILL, "run", str(config), "--set", "stages.nope.x=1"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "nope" in bad.stderr
