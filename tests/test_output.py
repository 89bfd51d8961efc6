"""The output folder: tokenmill deletes only what it wrote, refuses folders that are not
runs of its own, and lets one run at a time write a folder (a file lock; a lease on object
storage, against a real S3-compatible server on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.output import LOCK_NAME, RunOutput, check_output
from pipeline.output_lock import locked
from pipeline.plan import run_job
from pipeline.schema import ConfigError
from tests.conftest import ROOT, SAMPLE, job, read_documents, run

TOKENMILL = [sys.executable, "-m", "pipeline.cli"]
WIKI = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
TOKENS = {"mixture": {"validation": 0.1}, "tokenizer": {"train": {"vocab_size": 600}}}


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def a_user_folder(folder: Path) -> dict[str, bytes]:
    """What a user might keep under names a run also writes."""
    for name in ("documents/mine.parquet", "tokens/notes.txt", "report/draft.html"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"the user's {name}")
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "tokenizer.json").write_text("{}")
    return files_under(folder)


def test_a_source_checkout_is_refused_even_with_fresh(tmp_path):
    checkout = tmp_path / "checkout"
    for package in ("dedup", "tokenizer", ".git"):
        (checkout / package).mkdir(parents=True)
        (checkout / package / "__init__.py").write_text("# source")
    before = files_under(checkout)
    with pytest.raises(ConfigError, match="is a source checkout"):
        run_job(job(checkout, WIKI), fresh=True)
    assert files_under(checkout) == before


def test_root_home_and_current_folder_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    for folder, problem in (("/", "root folder"), (tmp_path / "home", "home"), (".", "current")):
        with pytest.raises(ConfigError, match=f"output: .* is the {problem}"):
            check_output(RunOutput(str(folder)))
    with pytest.raises(ConfigError, match=r"output: https://x\.example/runs/a is a web address"):
        check_output(RunOutput("https://x.example/runs/a"))  # was a 501 traceback at the lock


@pytest.mark.slow
def test_a_folder_that_is_not_a_run_is_refused_and_left_alone(tmp_path):
    folder = tmp_path / "mine"
    before = a_user_folder(folder)
    for fresh in (False, True):
        with pytest.raises(ConfigError, match="holds files that are not a tokenmill run"):
            run_job(job(folder, WIKI, **TOKENS), fresh=fresh)
    assert files_under(folder) == before
    done = subprocess.run(
        [*TOKENMILL, "run", str(ROOT / "configs" / "quickstart.yaml"), "--output", str(folder)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("config error: ") and "not a tokenmill run" in done.stderr
    assert "Traceback" not in done.stderr


def test_fresh_and_redone_phases_remove_only_what_the_run_wrote(local_ray, tmp_path):
    out = tmp_path / "out"
    run(job(out, WIKI, **TOKENS))
    written = set(files_under(out))
    assert any(name.startswith("tokens/train-") for name in written)
    user = {"tokens/notes.txt": b"mine", "documents/README": b"mine", "keep.md": b"mine"}
    stray_temporary = out / "documents" / ".tmp-not-ours.parquet"
    for name, content in user.items():
        (out / name).write_bytes(content)
    stray_temporary.write_bytes(b"looks like ours, was never recorded")
    # A changed mixture redoes the token phases, which clear OUT/tokens/ first.
    run(job(out, WIKI, mixture={"validation": 0.2}, tokenizer=TOKENS["tokenizer"]))
    assert all((out / name).read_bytes() == content for name, content in user.items())
    run(job(out, WIKI, **TOKENS), fresh=True)
    assert all((out / name).read_bytes() == content for name, content in user.items())
    assert stray_temporary.exists()
    assert set(files_under(out)) - set(user) - {stray_temporary.relative_to(out).as_posix()} == (
        written
    )


def test_remove_leaves_unrecorded_files_and_their_lookalike_temporaries(tmp_path):
    output = RunOutput(str(tmp_path))
    with output.atomic("tokens", "train-00000.parquet") as handle:
        handle.write(b"ours")
    (tmp_path / "tokens" / ".tmp-train-00000.parquet").write_bytes(b"half of ours")
    (tmp_path / "tokens" / "train-00001.parquet").write_bytes(b"the user's")
    (tmp_path / "tokens" / ".tmp-train-00001.parquet").write_bytes(b"the user's")
    output.remove("tokens")
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == [
        ".tmp-train-00001.parquet",
        "train-00001.parquet",
    ]
    assert output.owned() == []


@pytest.mark.parametrize("size", [10, 1 << 20])  # refused at close (buffered), or at write
def test_a_write_the_disk_refuses_names_its_file_and_leaves_nothing_behind(tmp_path, size):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    output = RunOutput(str(tmp_path))
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / ".tmp-web-00000.parquet").symlink_to("/dev/full")
    final = tmp_path / "documents" / "web-00000.parquet"
    refused = pytest.raises(OSError, match=f"No space left on device: '{final}'")
    with refused, output.atomic("documents", "web-00000.parquet") as handle:
        handle.write(b"x" * size)
    assert sorted(p.name for p in (tmp_path / "documents").iterdir()) == []


def test_an_output_folder_that_cannot_be_made_is_a_config_error_naming_it(tmp_path):
    """It was `error: [Errno 1] Operation not permitted: '/sys/...'`, naming no key; /sys
    refuses a new folder to root too, as a folder without write permission does."""
    output = RunOutput("/sys/tokenmill-test-output")
    refused = "^output: /sys/tokenmill-test-output cannot be made: Operation not permitted$"
    with pytest.raises(ConfigError, match=refused), locked(output):
        raise AssertionError("the lock was taken")


def test_a_second_run_of_one_output_is_refused(local_ray, tmp_path):
    out = tmp_path / "out"
    with locked(RunOutput(str(out))), pytest.raises(ConfigError, match="in use by another"):
        run_job(job(out, WIKI))
    run(job(out, WIKI))  # released: the folder is free again
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pipeline.output import RunOutput\n"
            "from pipeline.output_lock import locked\n"
            "with locked(RunOutput(sys.argv[1])):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        config = tmp_path / "job.yaml"
        config.write_text(json.dumps(job(out, WIKI).to_dict()))
        done = subprocess.run([*TOKENMILL, "run", str(config)], capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert (
            f"pid {holder.pid}" in done.stderr and "in use by another tokenmill run" in done.stderr
        )
    finally:
        holder.kill()
        holder.wait()
    assert len(read_documents(out)) > 0


@pytest.mark.slow
def test_an_object_store_lease_refuses_a_second_run_and_outlives_a_dead_one(s3_server):
    output = RunOutput(f"{s3_server}/run-a")
    check_output(output)
    with locked(output, lease_s=1.0):
        time.sleep(1.5)  # past the first expiry: renewed meanwhile
        second = RunOutput(f"{s3_server}/run-a")
        with pytest.raises(ConfigError, match="in use by another tokenmill run"), locked(second):
            pass
    assert not output.exists(LOCK_NAME)  # released
    dead = {"token": "dead", "pid": 1, "host": "gone", "since": "", "expires": time.time() - 1}
    output.fs.pipe_file(output.path(LOCK_NAME), json.dumps(dead).encode())
    with locked(output):  # a run that died holding its lease: taken over once expired
        holder = json.loads(output.fs.cat_file(output.path(LOCK_NAME)))
        assert holder["pid"] == os.getpid()
    other = RunOutput(f"{s3_server}/not-a-run")
    other.fs.pipe_file(other.path("data.csv"), b"a,b")
    with pytest.raises(ConfigError, match="not a tokenmill run"):
        check_output(other)
    with pytest.raises(ConfigError, match="root of its bucket"):
        check_output(RunOutput(s3_server))


def test_a_redone_write_replaces_what_a_killed_writer_of_it_left(tmp_path):
    """A task killed mid-write leaves its temporary; the retry that writes the same file
    writes over it (the trainer would otherwise meet `val/.tmp-x.parquet` among its shards;
    a random temporary name left one behind for every kill)."""
    output = RunOutput(str(tmp_path))
    killed = output.atomic("_state", "tokens", "encoded", "web-00000.parquet")
    killed.__enter__().write(b"half a shard")  # and its process dies here
    folder = tmp_path / "_state" / "tokens" / "encoded"
    assert [p.name for p in folder.iterdir()] == [".tmp-web-00000.parquet"]
    with output.atomic("_state", "tokens", "encoded", "web-00000.parquet") as handle:
        handle.write(b"the whole shard")
    assert [p.name for p in folder.iterdir()] == ["web-00000.parquet"]
    assert killed  # the killed writer never got to clean up


def test_a_segment_is_checked_against_what_was_written_before_it_is_read(tmp_path):
    from pipeline.checksums import FileChanged
    from pipeline.shard import read_segment, segment_file

    output = RunOutput(str(tmp_path))
    with output.atomic(*segment_file(0, "web-00000")) as sink:
        pq.write_table(pa.table({"id": ["a"], "text": ["some text"]}), sink)
    assert [t.num_rows for t in read_segment(output, 0, "web-00000", 64, sink.written)] == [1]
    path = tmp_path / "_work" / "segment-0" / "web-00000.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit, same size
    path.write_bytes(bytes(data))
    with pytest.raises(FileChanged, match=rf"{path}: its sha256 differs"):
        list(read_segment(output, 0, "web-00000", 64, sink.written))


@pytest.mark.parametrize("links", [True, False])
def test_a_copied_run_is_the_run_it_copies_and_shares_no_bookkeeping(tmp_path, monkeypatch, links):
    source = RunOutput(str(tmp_path / "source"))
    for name in ("a.parquet", "b.parquet"):
        with source.atomic("documents", name) as sink:
            sink.write(name.encode() * 100)
    with pytest.raises(RuntimeError), source.atomic("documents", "unfinished.parquet"):
        raise RuntimeError("the writer dies: the file is recorded and never written")
    source.write_json({"digest": "x"}, "_state", "plan.json")
    (tmp_path / "source" / "notes.txt").write_text("the user's")
    if not links:

        def another_disk(*_):
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", another_disk)

    source.copy_run(str(tmp_path / "copy"))
    copy = RunOutput(str(tmp_path / "copy"))
    assert copy.owned() == source.owned()
    assert copy.damaged(["documents/a.parquet", "documents/b.parquet"]) == []
    assert copy.read_json("_state", "plan.json") == {"digest": "x"}
    assert not (tmp_path / "copy" / "notes.txt").exists()
    assert not (tmp_path / "copy" / "documents" / "unfinished.parquet").exists()
    linked = (tmp_path / "copy" / "documents" / "a.parquet").stat().st_nlink == 2
    assert linked == links

    with copy.atomic("documents", "a.parquet") as sink:  # a rerun of the copy redoes a file
        sink.write(b"redone")
    copy.remove("documents", "b.parquet")
    assert (tmp_path / "source" / "documents" / "a.parquet").read_bytes() == b"a.parquet" * 100
    assert source.damaged(["documents/a.parquet", "documents/b.parquet"]) == []
    assert copy.damaged(["documents/a.parquet"]) == []
