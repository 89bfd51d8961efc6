"""The fault suite: a run survives what kills or starves it, and ends as a clean run does.

Each case runs `tokenmill run` (an embedded Ray, as a user starts it) on a one-WARC job with
extract, dedup and tokens, hurts it (SIGKILLed Ray workers, a SIGKILLed driver, a full
disk, a truncated shard, a second run on the same folder) and compares the final output
with a clean run's: document ids and texts, and the token shards' checksums. Kills land at
named points (pipeline/faults.py), so each case hits the step it is about every time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.output import LOCK_NAME
from tests.conftest import ROOT, SAMPLE, small_disk

pytestmark = [pytest.mark.faults, pytest.mark.ray, pytest.mark.slow]

WORKER_POINTS = ["shard", "dedup.sign", "dedup.group", "tokens.encode", "tokens.gather"]
DRIVER_POINTS = ["driver.shards", "driver.dedup", "driver.tokens"]


def write_job(folder: Path) -> Path:
    config = {
        "name": "faults",
        "output": str(folder / "out"),
        "inputs": [{"source": "web", "format": "warc", "paths": [str(SAMPLE / "web-000.warc.gz")]}],
        "stages": [{"extract": {}}, {"dedup": {"exact": True}}],
        "mixture": {"validation": 0.1, "shard_tokens": 20_000},
        "tokenizer": {"train": {"vocab_size": 600}},
        "execution": {"workers": 1, "object_store_mb": 100},
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tokenmill_run(config: Path, *extra: str, kill_at=(), faults: Path | None = None):
    """`tokenmill run` as its own process group (a driver kill takes its Ray with it)."""
    env = {**os.environ}
    if kill_at:
        env.update(TOKENMILL_KILL_AT=",".join(kill_at), TOKENMILL_FAULTS=str(faults))
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(config), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        timeout=600,
    )


def outcome(out: Path) -> dict:
    """What a run produced that must not depend on how it got there."""
    documents = sorted(
        (row["id"], row["text"])
        for path in sorted((out / "documents").glob("*.parquet"))
        for row in pq.read_table(path, columns=["id", "text"]).to_pylist()
    )
    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    shards = sorted((shard["path"], shard["sha256"]) for shard in manifest["shards"])
    return {"documents": documents, "token_shards": shards}


def holder(out: Path) -> int | None:
    """The pid the output's lock file names."""
    try:
        return json.loads((out / LOCK_NAME).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def leftovers(out: Path) -> list[str]:
    """Half-written files: temporaries outside the run's own scratch folder."""
    return [str(p) for p in out.rglob(".tmp-*") if "_work" not in p.parts]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    done = tokenmill_run(write_job(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out"


@pytest.fixture(scope="module")
def clean(clean_run) -> dict:
    result = outcome(clean_run)
    assert len(result["documents"]) > 20 and result["token_shards"]
    return result


def test_killed_workers_and_a_driver_killed_at_three_points_end_as_a_clean_run(clean, tmp_path):
    """One chain of runs: each of the points kills once, the workers' retried by Ray, the
    driver's resumed by running the same command again."""
    faults = tmp_path / "faults"
    faults.mkdir()
    config = write_job(tmp_path)
    points = WORKER_POINTS + DRIVER_POINTS
    for point in DRIVER_POINTS:
        done = tokenmill_run(config, kill_at=points, faults=faults)
        assert done.returncode == -9, done.stderr[-3000:]
        assert (faults / point).exists()
    done = tokenmill_run(config, kill_at=points, faults=faults)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in faults.iterdir()) == sorted(points)  # each one fired
    assert outcome(tmp_path / "out") == clean
    assert leftovers(tmp_path / "out") == []


def test_a_full_disk_fails_the_run_cleanly_and_a_rerun_completes_it(clean, tmp_path):
    """40 KB fill up in a shard task (its documents), 200 KB in a phase's task (encoding),
    300 KB in the driver (the tokens): each way the run fails on one line naming the file it
    could not write, and a rerun on a larger disk completes it."""
    with small_disk(tmp_path / "disk", "40k") as disk:
        config = write_job(disk)
        for size, failed in (
            ("40k", "shard web-00000 failed"),
            ("200k", "error: "),
            ("300k", "error: "),
        ):
            subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)
            full = tokenmill_run(config)
            assert full.returncode != 0
            assert failed in full.stderr
            assert f"[Errno 28] No space left on device: '{disk}/out/" in full.stderr
            assert "Traceback" not in full.stderr  # the machine's doing: no code to debug
            assert leftovers(disk / "out") == []
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        done = tokenmill_run(config)
        assert done.returncode == 0, done.stderr[-3000:]
        assert outcome(disk / "out") == clean


def test_a_truncated_shard_is_refused_and_a_second_run_meanwhile_too(clean, clean_run, tmp_path):
    """A rerun over a truncated shard is refused, naming it; `--fresh` redoes the run, and a
    second run started meanwhile on the same folder is refused while the first finishes."""
    config = write_job(tmp_path)
    shutil.copytree(clean_run, tmp_path / "out")
    shard = next((tmp_path / "out" / "documents").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    refused = tokenmill_run(config)
    assert refused.returncode == 2
    assert f"{shard} is missing or not what this run wrote" in refused.stderr
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", str(config), "--fresh"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while holder(tmp_path / "out") != first.pid:  # it has taken the folder's lock
        assert first.poll() is None and time.monotonic() < deadline, "the first run ended"
        time.sleep(0.05)
    second = tokenmill_run(config)
    assert second.returncode == 2
    assert "is in use by another tokenmill run" in second.stderr
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    assert outcome(tmp_path / "out") == clean
