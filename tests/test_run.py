"""Whole runs on a real local Ray: output layout, counts, resume, bad input, a killed driver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.fasttext_model import FASTTEXT_MAGIC
from pipeline.documents import BASE_FIELDS, SCHEMA_VERSION, document_id
from pipeline.plan import refuse_unseen_input, run_job
from pipeline.schema import ConfigError
from pipeline.shard import ShardResult
from pipeline.stats import Funnel
from support.warcs import page_record, write_warc
from tests.conftest import (
    ROOT,
    SAMPLE,
    finished_shards,
    funnel,
    job,
    read_documents,
    run,
    write_crawl,
)


def sample_inputs() -> list[dict]:
    return [
        {"source": "web", "format": "warc", "paths": [str(SAMPLE / "*.warc.gz")]},
        {"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]},
    ]


def test_sample_run_on_two_workers_writes_the_documented_output(local_ray, tmp_path):
    out = tmp_path / "out"
    summary = run(job(out, sample_inputs(), [{"extract": {}}], keep_removed=True))
    inputs = [*sorted(SAMPLE.glob("*.warc.gz")), SAMPLE / "wiki.jsonl"]
    shards = sorted((out / "documents").glob("*.parquet"))
    assert len(shards) == len(inputs)
    for shard in shards:
        schema = pq.read_schema(shard)
        assert schema.names == [f.name for f in BASE_FIELDS]
        assert schema.field("crawl_date").type == pa.timestamp("us", tz="UTC")
        assert schema.metadata[b"tokenmill.schema_version"] == SCHEMA_VERSION.encode()
    documents = read_documents(out)
    assert len(documents) == summary.report["documents"] > 100
    assert len({d["id"] for d in documents}) == len(documents)
    assert {d["source"] for d in documents} == {"web", "wiki"}
    stages = funnel(summary)
    assert stages["extract"]["kept"] == len(documents)
    assert stages["read"]["removed"]["http_status"] >= 1
    assert stages["read"]["removed"]["not_html"] >= 1
    removed = read_documents(out, "removed")
    dropped = sum(s["removed"].get(r, 0) for s in stages.values() for r in s["removed"])
    extract_drops = sum(stages["extract"]["removed"].values()) + sum(
        stages["extract"]["errored"].values()
    )
    assert len(removed) == extract_drops <= dropped
    assert all(r["stage"] == "extract" and r["reason"] for r in removed)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_sha256"] and manifest["packages"]["ray"]
    assert all(entry["sha256"] for entry in manifest["inputs"])


def test_a_rerun_skips_finished_shards_and_a_changed_plan_is_refused(local_ray, tmp_path):
    out = tmp_path / "out"
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    first = run(job(out, inputs))
    before = (out / "documents" / "wiki-00000.parquet").stat().st_mtime_ns
    second = run(job(out, inputs))
    assert (out / "documents" / "wiki-00000.parquet").stat().st_mtime_ns == before
    assert second.report["funnel"] == first.report["funnel"]
    with pytest.raises(ConfigError, match="different config"):
        run(job(out, inputs, keep_removed=True))
    run(job(out, inputs, keep_removed=True), fresh=True)


def test_bad_inputs_are_counted_and_the_job_finishes(local_ray, tmp_path):
    good = [page_record(n) for n in range(4)]
    truncated = write_warc(tmp_path / "truncated.warc.gz", good).read_bytes()[:-200]
    (tmp_path / "truncated.warc.gz").write_bytes(truncated)
    clean = write_warc(tmp_path / "garbage.warc.gz", good).read_bytes()
    (tmp_path / "garbage.warc.gz").write_bytes(clean[:900] + os.urandom(400) + clean[900:])
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "truncated.warc.gz").write_bytes(truncated)
    (tmp_path / "warc.paths").write_text(
        f"{tmp_path / 'listed' / 'truncated.warc.gz'}\n{tmp_path / 'gone.warc.gz'}\n"
    )
    (tmp_path / "lines.jsonl").write_text('{"text": "fine"}\nnot json\n')
    # The first file of an input is checked before work (it has text); a later one counted.
    pq.write_table(pa.table({"text": ["a table's text"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"body": ["no text column"]}), tmp_path / "notext.parquet")
    inputs = [
        {"source": "crawl", "format": "warc", "paths": [str(tmp_path / "*.warc.gz")]},
        {"source": "listed", "format": "warc", "paths": [str(tmp_path / "warc.paths")]},
        {"source": "lines", "format": "jsonl", "paths": [str(tmp_path / "lines.jsonl")]},
        {"source": "table", "format": "parquet", "paths": [str(tmp_path / "*.parquet")]},
    ]
    summary = run(job(tmp_path / "out", inputs, [{"extract": {}}]))
    read = funnel(summary)["read"]
    assert set(read["errored"]) >= {
        "empty_file",
        "missing_file",
        "invalid_json",
        "missing_text_column",
    }
    assert (
        read["errored"].get("truncated_record", 0) + read["errored"].get("corrupt_record", 0) >= 2
    )
    assert summary.report["documents"] >= 3 + 2 + 3 + 1
    assert summary.errored_stages == {}


def test_inputs_of_which_no_record_can_be_read_fail_the_run_until_one_is_fixed(local_ray, tmp_path):
    """CSV files named `.jsonl`: every record errored, so the run fails, naming the reason
    and a file, and finishes no shard; once one file holds JSON lines, the rerun reads it
    and counts the other's records as errored, as any damaged input's."""
    rows = "".join(f"{n},a line of text number {n}\n" for n in range(10))
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(f"id,text\n{rows}")
    out = tmp_path / "out"
    config = job(out, [{"source": "s", "format": "jsonl", "paths": [str(tmp_path / "*.jsonl")]}])
    summary = run(config)
    assert summary.errored_stages == {
        "read": "inputs: not one of the 22 records read could be used (invalid_json: 22; e.g. "
        f"in {tmp_path / 'a.jsonl'}); fix the files, or their input's format or columns, and "
        "rerun to redo their shards"
    }
    assert finished_shards(out / "_state" / "shards") == []
    (tmp_path / "a.jsonl").write_text("".join(f'{{"text": "line {n}"}}\n' for n in range(10)))
    fixed = run(config)
    assert fixed.errored_stages == {}
    assert (fixed.report["documents"], funnel(fixed)["read"]["errored"]) == (
        10,
        {"invalid_json": 11},
    )


def test_a_file_whose_name_is_not_utf8_is_read_and_reported(local_ray, tmp_path):
    """A Latin-1 file name (`caf\xe9.jsonl`, from an old archive): its shard failed on every
    run (the document id hashed the name as UTF-8), and so did the HTML report."""
    folder = os.fsencode(tmp_path)
    for name in (b"caf\xe9.jsonl", b"plain.jsonl"):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(json.dumps({"text": f"the text of {name!r}"}).encode() + b"\n")
    inputs = [{"source": "old", "format": "jsonl", "paths": [str(tmp_path / "*.jsonl")]}]
    summary = run(job(tmp_path / "out", inputs))
    assert summary.report["documents"] == 2
    ids = pq.read_table(tmp_path / "out" / "documents").column("id").to_pylist()
    assert document_id(f"file://{os.fsdecode(folder)}/caf%E9.jsonl", 0) in ids
    assert "caf\\udce9.jsonl" in (tmp_path / "out" / "report" / "report.html").read_text()


@pytest.mark.ray
def test_a_killed_run_resumes_to_the_same_documents(tmp_path):
    write_crawl(tmp_path)
    config = tmp_path / "job.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "kill",
                "output": str(tmp_path / "out"),
                "inputs": [  # a shard per file, so that the kill lands between shards
                    {
                        "source": "web",
                        "format": "warc",
                        "paths": [str(tmp_path / "*.warc.gz")],
                        "shard_bytes": 0,
                    }
                ],
                "stages": [{"extract": {"engine": "trafilatura"}}],
                "execution": {"workers": 1, "batch_size": 8},
            }
        )
    )
    command = [sys.executable, "-m", "pipeline.cli", "run", str(config)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = tmp_path / "out" / "_state" / "shards"
    deadline = time.monotonic() + 180
    while not (state.is_dir() and len(finished_shards(state)) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "run ended before the kill"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(finished_shards(state))
    assert 2 <= finished < 6, "kill came too late to test a resume"
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {finished} of 6" in resumed.stderr
    clean = subprocess.run(
        [*command, "--output", str(tmp_path / "clean")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert clean.returncode == 0, clean.stderr
    killed_docs = read_documents(tmp_path / "out")
    assert len(killed_docs) == 6 * 40
    assert killed_docs == read_documents(tmp_path / "clean")
    assert not list((tmp_path / "out" / "documents").glob(".tmp-*"))


@pytest.mark.ray
def test_an_embedded_ray_starts_without_the_api_server_and_stops_without_its_monitor():
    """The embedded Ray runs tasks without the dashboard's head process, which `ray.init`
    would wait for. `ray.shutdown()` alone gives the monitor a second to answer its SIGTERM,
    and it never does (it reports to the GCS shutdown has already stopped): a run's embedded
    Ray stops in well under that. It has token authentication on, as Ray's default is, but
    without Ray's warning about it. In a fresh process, as `tokenmill run` starts one."""
    code = (
        "import os, time\n"
        "import ray\n"
        "from pipeline.cluster import ray_session\n"
        "from pipeline.config import ExecutionConfig\n"
        "with ray_session(ExecutionConfig(workers=1)):\n"
        "    print(ray.get(ray.remote(lambda: os.environ['RAY_AUTH_MODE']).remote()))\n"
        "    print(sorted(ray._private.worker._global_node.all_processes))\n"
        "    stopping = time.perf_counter()\n"
        "print(time.perf_counter() - stopping)\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    auth_mode, processes, stop_seconds = done.stdout.strip().splitlines()[-3:]
    assert auth_mode == "token" and "authentication" not in done.stderr
    assert "'gcs_server'" in processes and "'dashboard'" not in processes
    assert float(stop_seconds) < 1.0


@pytest.mark.ray
def test_sigterm_after_ray_stopped_still_does_what_ctrl_c_does():
    """`ray.init` sets a SIGTERM handler that exits with status 15, and it outlived the
    embedded Ray: a `kill` after a run's last shard (its report being written) ended
    `tokenmill run` with 15 and no `interrupted` line. In a fresh process, as the CLI runs."""
    code = (
        "import os, signal, time\n"
        "from pipeline.cluster import ray_session\n"
        "from pipeline.config import ExecutionConfig\n"
        "from pipeline.termination import sigterm_as_ctrl_c\n"
        "with sigterm_as_ctrl_c():\n"
        "    with ray_session(ExecutionConfig(workers=1)):\n"
        "        pass\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(10)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "interrupted\n"), done.stderr[-2000:]


WIKI = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]


def test_a_garbage_model_fails_the_run_until_a_real_one_is_used(local_ray, tmp_path):
    """A file that is no fastText model, or of a later format version, is refused with the
    config. One that fastText refuses to load (a whole file, but a pruned dictionary without
    a quantized matrix): every document errored in `language`, the run ends non-zero and
    keeps nothing finished, so a rerun redoes it, and its error quotes what the stage raised;
    a model replaced at the same path is another plan."""
    model = tmp_path / "lid.bin"
    model.write_bytes(b"not a fastText model")
    out = tmp_path / "out"
    stages = [{"language": {"model": str(model)}}]
    with pytest.raises(ConfigError, match=f"stages.language.model: not a fastText model: {model}"):
        job(out, WIKI, stages)
    model.write_bytes(FASTTEXT_MAGIC + struct.pack("<i", 999))
    with pytest.raises(ConfigError, match=r"stages.language.model: .*: format version 999"):
        job(out, WIKI, stages)
    arguments = struct.pack("<12id", 8, 5, 5, 1, 5, 1, 1, 3, 0, 0, 0, 100, 1e-4)
    dictionary = struct.pack("<iiiqq", 0, 0, 0, 0, 0)  # no words; pruned (index size 0)
    dense_matrix = b"\0" + struct.pack("<qq", 0, 8)  # not quantized, 0 by 8
    model.write_bytes(
        FASTTEXT_MAGIC + struct.pack("<i", 12) + arguments + dictionary + 2 * dense_matrix
    )
    summary = run_job(job(out, WIKI, stages))
    assert summary.errored_stages["language"].startswith(
        "stage language errored on 40 of 40 documents (language_error: 40, "
        f"e.g. ValueError: {model}: fastText does not load it: Invalid model file.)"
    )
    assert not (out / "_state" / "shards").exists() or not any(
        (out / "_state" / "shards").iterdir()
    )
    again = run_job(job(out, WIKI, stages))  # redone, not resumed: fails the same way
    assert again.errored_stages.keys() == {"language"}
    shutil.copyfile(ROOT / "data" / "models" / "quality.ftz", model)  # any real fastText model
    with pytest.raises(ConfigError, match="different config"):
        run_job(job(out, WIKI, stages))
    assert run_job(job(out, WIKI, stages), fresh=True).errored_stages == {}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(_config_file(tmp_path, out, stages))],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def _config_file(folder, out, stages):
    path = folder / "job.yaml"
    path.write_text(json.dumps(job(out, WIKI, stages).to_dict()))
    return path


def test_a_finished_run_with_dedup_is_a_no_op_on_rerun(local_ray, tmp_path, capsys):
    out = tmp_path / "out"
    config = job(out, WIKI, [{"dedup": {"exact": True}}, {"quality": {}}])
    first = run(config)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "documents").glob("*.parquet")}
    capsys.readouterr()
    second = run(config)
    printed = capsys.readouterr().err
    assert "shards before global stages" not in printed and "shards after" not in printed
    assert printed.count("resuming") == 3  # both segments and the dedup phase
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert second.report["funnel"] == first.report["funnel"]


def test_an_input_changed_since_it_was_read_is_refused(local_ray, tmp_path):
    source = tmp_path / "wiki.jsonl"
    shutil.copyfile(SAMPLE / "wiki.jsonl", source)
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(source)]}]
    out = tmp_path / "out"
    run(job(out, inputs))
    os.utime(source, ns=(0, 0))  # touched, same bytes: still the input that was read
    run(job(out, inputs))
    with source.open("a") as handle:
        handle.write(json.dumps({"text": "A document added after the run."}) + "\n")
    with pytest.raises(ConfigError, match=r"inputs: .*wiki\.jsonl changed since this run read"):
        run(job(out, inputs))
    summary = run(job(out, inputs), fresh=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["size"] == source.stat().st_size
    assert summary.report["documents"] == len(read_documents(out)) == 41


def test_small_files_are_read_several_to_a_shard_into_the_same_documents(local_ray, tmp_path):
    """A shard per file cost each of thousands of small files a task, a pass of every stage
    and Parquet files of its own (2,000 text files of a document: 28.6 s, against 7.4 s in
    6 shards); read together, they make the same documents under the same ids."""
    folder = tmp_path / "notes"
    folder.mkdir()
    texts = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    for number, text in enumerate(texts):
        (folder / f"{number:03d}.txt").write_text(f"{text}\n\nNote {number}.")
    (folder / "big.txt").write_text("A long note. " * 2_000)  # 26 kB: a shard of its own
    notes = {"source": "notes", "format": "text", "paths": [str(folder / "*.txt")]}
    small = max(p.stat().st_size for p in folder.glob("0*.txt"))
    grouped = run(job(tmp_path / "grouped", [{**notes, "shard_bytes": 4 * small}]))
    apart = run(job(tmp_path / "apart", [{**notes, "shard_bytes": 0}]))
    assert len(apart.shards) == len(texts) + 1 > 3 * len(grouped.shards)

    def documents(name: str) -> list[tuple]:
        rows = read_documents(tmp_path / name)
        return sorted((row["id"], row["text"]) for row in rows)

    assert documents("grouped") == documents("apart") and len(documents("apart")) == 41
    counts = [
        [{k: v for k, v in entry.items() if not k.endswith("_s")} for entry in s.report["funnel"]]
        for s in (grouped, apart)
    ]
    assert counts[0] == counts[1]
    manifest = json.loads((tmp_path / "grouped" / "manifest.json").read_text())
    listed = {entry["path"]: entry["shard"] for entry in manifest["inputs"]}
    assert sorted(listed) == sorted(str(p) for p in folder.glob("*.txt"))
    assert len(set(listed.values())) == len(grouped.shards)
    shards = grouped.report["shards"]
    assert sum(s["input_files"] for s in shards) == len(listed) and shards[0]["input_files"] > 1
    assert listed[shards[0]["input"]] == shards[0]["shard"]

    changed = folder / "005.txt"  # one file of a shard of several
    changed.write_text(changed.read_text() + " A line added after the run.")
    with pytest.raises(ConfigError, match=rf"inputs: {changed} changed since this run read"):
        run(job(tmp_path / "grouped", [{**notes, "shard_bytes": 4 * small}]))


def test_a_truncated_shard_is_named_by_the_rerun_the_report_and_the_step_reading_it(
    local_ray, tmp_path
):
    from pipeline.checksums import FileChanged
    from pipeline.phases.encode import EncodeJob, encode_shard

    out = tmp_path / "out"
    tokens = {"mixture": {}, "tokenizer": {"train": {"vocab_size": 600}}}
    summary = run(job(out, WIKI, **tokens))
    shard = out / "documents" / "wiki-00000.parquet"
    recorded = json.loads((out / "_state" / "shards" / "wiki-00000.json").read_text())["files"]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ConfigError, match=rf"output: {shard} is missing or not what this run"):
        run_job(job(out, WIKI, **tokens))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1 and f"{shard} is missing or not what the run wrote" in done.stderr
    job_for_encode = EncodeJob(str(out), "{}", 0, 0.0, 64)
    with pytest.raises(FileChanged, match=rf"{shard}: its sha256 differs"):
        encode_shard(shard.name, recorded["documents/wiki-00000.parquet"], job_for_encode)
    run(job(out, WIKI, **tokens), fresh=True)
    assert len(read_documents(out)) == summary.report["documents"]


def test_an_input_readable_here_but_not_where_a_worker_ran_stops_the_run(tmp_path):
    """On a cluster, a path only the driver's machine has would fail every shard: the first
    one stops the run. A file a crawl manifest lists but nobody has is counted, not fatal."""
    here, read = tmp_path / "here.jsonl", tmp_path / "read.jsonl"
    for path in (here, read):
        path.write_text('{"text": "a"}\n')
    funnel = Funnel()
    funnel.stage("read").errored["missing_file"] = 1
    found, missing = {"size": 14}, {"missing": True}
    with pytest.raises(ConfigError, match=f"inputs: {here} is readable here but not where"):
        refuse_unseen_input(ShardResult("here", {str(read): found, str(here): missing}, funnel))
    gone = str(tmp_path / "gone.warc.gz")  # of a shard of small files, the one missing
    refuse_unseen_input(ShardResult("gone", {str(read): found, gone: missing}, funnel))
