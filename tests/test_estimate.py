"""`tokenmill estimate` against what a run of the whole config then reads, keeps, writes
and spends."""

from __future__ import annotations

import io
import json
import random
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from rich.console import Console

from pipeline.cli.curation import print_estimate
from pipeline.config import InputSpec
from pipeline.estimate import (
    Estimate,
    InputEstimate,
    StageEstimate,
    _pages_in,
    _sample,
    _shard_pages,
    fitted,
)
from pipeline.inputs import InputFile, InputShard, input_shards, resolve_inputs
from support.warcs import html_page, page_record, write_warc
from tests.conftest import CLI, ENV, ROOT, SAMPLE, job, run_cli


def write_inputs(folder: Path) -> None:
    """The sample's three WARCs of about 50 pages, its wiki articles as two JSON lines files
    of 6 and 14 and a Parquet file of the other 20."""
    (folder / "web").mkdir()
    for path in SAMPLE.glob("web-*.warc.gz"):
        shutil.copy(path, folder / "web")
    lines = (SAMPLE / "wiki.jsonl").read_text().splitlines()
    (folder / "wiki").mkdir()
    (folder / "wiki" / "a.jsonl").write_text("\n".join(lines[:6]) + "\n")
    (folder / "wiki" / "b.jsonl").write_text("\n".join(lines[6:20]) + "\n")
    rows = [json.loads(line) for line in lines[20:]]
    pq.write_table(pa.Table.from_pylist(rows), folder / "articles.parquet", row_group_size=4)


@pytest.mark.slow
def test_an_estimate_is_near_what_the_run_then_reads_keeps_writes_and_spends(tmp_path):
    """The run is `tokenmill run` in a process of its own, as cold as the estimate's samples:
    on the tests' shared Ray, workers that earlier tests had warmed spent a third of it."""
    write_inputs(tmp_path)
    config = tmp_path / "job.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "estimated",
                "output": str(tmp_path / "out"),
                "inputs": [
                    {"source": "web", "format": "warc", "paths": [str(tmp_path / "web/*.warc.gz")]},
                    {
                        "source": "wiki",
                        "format": "jsonl",
                        "paths": [str(tmp_path / "wiki/*.jsonl")],
                    },
                    {"source": "kb", "format": "parquet", "paths": [str(tmp_path / "*.parquet")]},
                ],
                "stages": [
                    {"extract": {}},
                    {"language": {"keep": ["en"]}},
                    {"quality": {}},
                    {"dedup": {}},
                ],
                "mixture": {"weights": {"web": 0.5, "wiki": 0.3, "kb": 0.2}},
                "tokenizer": {"train": {"vocab_size": 600}},
                "execution": {"workers": 2},
            }
        )
    )
    estimated = run_cli(["estimate", str(config), "--pages", "40", "--json"])
    assert estimated.returncode == 0, estimated.stderr[-3000:]
    assert "sample 3 of 3: at most 7 documents of each of 6 files" in estimated.stderr
    estimate = json.loads(estimated.stdout)

    ran = run_cli(["run", str(config)])
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report" / "report.json").read_text())
    pages = {i["source"]: i for i in estimate["inputs"]}
    assert pages["wiki"]["pages"] == 20  # both files were sampled and counted whole
    assert pages["kb"]["pages"] == 20  # the footer's rows
    actual_web = sum(
        next(stage for stage in shard["funnel"] if stage["stage"] == "read")["docs_in"]
        for shard in report["shards"]
        if "/web/" in shard["input"]
    )
    assert abs(pages["web"]["pages"] - actual_web) <= 0.05 * actual_web
    assert pages["web"]["sampled_files"] == pages["web"]["files"] == 3

    stages = {s["name"]: s for s in estimate["stages"]}
    kept = {s["stage"]: s["kept"] for s in report["funnel"]}
    for name in ("read", "extract", "language", "quality", "dedup"):
        assert abs(stages[name]["kept"] - kept[name]) <= 0.15 * kept[name], name
    documents = sum(f.stat().st_size for f in (tmp_path / "out/documents").glob("*.parquet"))
    assert 0.7 < estimate["output_bytes"] / documents < 2  # few rows compress worse
    unique = {m["source"]: m["available_tokens"] for m in report["tokens"]["mixture"]}
    for source, tokens in unique.items():
        assert abs(estimate["unique_tokens"][source] - tokens) <= 0.2 * tokens, source
    assert (
        abs(estimate["training_tokens"] - report["tokens"]["train"]["tokens"])
        <= 0.15 * (report["tokens"]["train"]["tokens"])
    )

    # Core-seconds as the estimate counts them: the stages' work and start-up, and each
    # phase's wall time on the 2 workers (within 3×: the two are timed minutes apart on a
    # machine that may be busy).
    spent = sum(s["elapsed_s"] + s["startup_s"] for s in report["funnel"])
    phases = (tmp_path / "out/_state/phases").glob("*.json")
    spent += 2 * sum(json.loads(phase.read_text())["elapsed_s"] for phase in phases)
    assert estimate["workers"] == 2
    assert spent / 3 < estimate["core_hours"] * 3600 < spent * 3
    assert estimate["peak_rss_bytes"] > estimate["largest_process_rss_bytes"] > 50e6


@pytest.mark.slow
def test_ctrl_c_stops_an_estimate_and_leaves_no_sample_behind():
    samples = Path(tempfile.gettempdir())
    before = set(samples.glob("tokenmill-estimate-*"))
    estimating = subprocess.Popen(
        [*CLI, "estimate", str(ROOT / "configs/quickstart.yaml"), "--pages", "40"],
        cwd=ROOT,
        env=ENV,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    said = []
    while not any(line.startswith("sample 2 of 3") for line in said):
        said.append(estimating.stderr.readline())
        assert said[-1], "".join(said)
    estimating.send_signal(signal.SIGINT)
    rest = estimating.stderr.read().splitlines()
    assert estimating.wait(60) == 130
    assert rest[-1] == "interrupted" and "Traceback" not in "".join(rest)
    assert set(samples.glob("tokenmill-estimate-*")) == before


def test_a_sample_reads_its_shards_as_the_run_groups_their_files(local_ray, tmp_path):
    """Small files share shards (`shard_bytes`). Samples that read a file a shard paid each
    file's per-task costs: for 1,500 files of a few documents in 47 shards the estimate
    said 27 core-seconds and the run spent 12. Every other shard is chosen, so that the
    files of two chosen shards, listed together, would have shared one."""
    for n in range(30):
        lines = [json.dumps({"text": f"file {n}, document {d}"}) + "\n" for d in range(4)]
        (tmp_path / f"f{n:02d}.jsonl").write_text("".join(lines))
    spec = {"source": "s", "format": "jsonl", "paths": [f"{tmp_path}/*.jsonl"]}
    config = job(tmp_path / "out", [{**spec, "shard_bytes": 500}])
    chosen = input_shards(resolve_inputs(config))[::2]
    console = Console(file=io.StringIO())
    sample = _sample(config, [chosen], 3, str(tmp_path / "sample"), "1 of 1", console)
    read = {
        r.shard: (list(r.inputs), r.funnel.stages["read"].docs_in) for r in sample.summary.shards
    }
    assert read == {s.name: ([f.path for f in s.files], 3 * len(s.files)) for s in chosen}
    assert min(len(shard.files) for shard in chosen) == 3
    files = sum(len(shard.files) for shard in chosen)
    assert f"at most 3 documents of each of {files} files" in console.file.getvalue()


def test_a_sample_reads_the_files_chosen_even_where_their_names_look_like_globs(
    local_ray, tmp_path
):
    for name in ("crawl[1].jsonl", "crawl1.jsonl", "crawl*.jsonl"):
        shutil.copy(SAMPLE / "wiki.jsonl", tmp_path / name)
    spec = {"source": "s", "format": "jsonl", "paths": [f"{tmp_path}/*"], "shard_bytes": 0}
    config = job(tmp_path / "out", [spec])
    for shard in input_shards(resolve_inputs(config)):
        output = str(tmp_path / "sample" / shard.name)
        sample = _sample(config, [[shard]], 5, output, "1 of 1", Console(file=io.StringIO()))
        (read,) = sample.summary.shards
        assert list(read.inputs) == [shard.files[0].path]
        assert read.funnel.stages["read"].kept == 5 and sample.summary.output.url == output


@pytest.mark.parametrize("name", ["pages.jsonl", "pages.jsonl.gz", "pages.warc.gz"])
def test_the_pages_of_a_large_file_are_counted_in_its_start(tmp_path, monkeypatch, name):
    words = random.Random(0).choices([f"w{n}" for n in range(5_000)], k=300_000)
    rows = [{"text": " ".join(words[n * 100 : n * 100 + 50 + n % 50])} for n in range(3_000)]
    path = tmp_path / name
    if name.endswith(".warc.gz"):
        write_warc(
            path,
            [page_record(n, body=html_page(row["text"]).encode()) for n, row in enumerate(rows)],
        )
    else:
        with fsspec.open(str(path), "wt", compression="infer") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    spec = InputSpec(source="s", format="warc" if "warc" in name else "jsonl", paths=[str(path)])
    file = InputFile(spec=spec, path=str(path), shard="s-00000")
    size = path.stat().st_size
    assert _pages_in(file, size) == 3_000
    monkeypatch.setattr("pipeline.estimate.PREFIX_BYTES", size // 8)
    assert abs(_pages_in(file, size) - 3_000) < 0.05 * 3_000
    console = Console(file=io.StringIO())
    shard = InputShard("s-00000", (file,))
    assert _shard_pages(shard, {file.path: size}, console) == _pages_in(file, size)
    assert "counting the pages of the first" in console.file.getvalue()


def test_fitted_costs_hold_a_fixed_part_and_a_part_per_unit():
    assert fitted((10, 3.0), (40, 6.0)) == (2.0, 0.1)
    assert fitted((10, 3.0), (40, 2.5)) == (2.5, 0.0)  # noise: no negative part per unit
    assert fitted((10, 0.0), (40, 8.0)) == (0.0, 0.2)  # no negative fixed part
    assert fitted((40, 8.0), (40, 8.0)) == (0.0, 0.2)  # one point: all of it per unit
    assert fitted((0, 0.0), (0, 0.0)) == (0.0, 0.0)


def test_an_estimate_prints_inputs_work_memory_and_output():
    estimate = Estimate(
        pages=1_000,
        sample_seconds=42.0,
        workers=2,
        inputs=[
            InputEstimate(
                "web", "warc", 90_000, 90_000, 1_000, 98_300_000_000_000, 4, 1_000, 3_100_000_000
            ),
            InputEstimate("notes", "text", 20_000, 40, 20_000, 200_000_000, 4, 4, 20_000),
        ],
        stages=[StageEstimate("extract", 3_100_000_000, 3_000_000_000, 5_000.0)],
        startup_core_hours=12.5,
        phases={"dedup": 400.0},
        output_bytes=1_200_000_000_000,
        peak_rss_bytes=4_300_000_000,
        largest_process_rss_bytes=1_300_000_000,
        token_bytes=300_000_000_000,
        unique_tokens={"web": 60_000_000_000},
        training_tokens=120_000_000_000,
    )
    console = Console(record=True, width=120)
    print_estimate(estimate, console)
    text = console.export_text()
    assert "sampled 1,000 pages in 42.0 s on 2 workers" in text
    assert "90,000 (1,000 sized)" in text and "98.3 TB" in text and "3,100,000,000" in text
    assert "20,000 in 40 shards" in text
    assert "core-hours" in text and "5,412" in text  # 5,000 + 12.5 + 400
    assert "4.3 GB resident at the peak" in text and "the largest process 1.3 GB" in text
    assert "documents 1.2 TB; token shards 300.0 GB: 120,000,000,000 training tokens" in text


@pytest.mark.parametrize("count", [0, 999, 1_000, 1_234_567, 5e18])
def test_byte_sizes_read_in_decimal_units(count):
    from pipeline.console import byte_size

    assert (
        byte_size(count)
        == {
            0: "0 B",
            999: "999 B",
            1_000: "1.0 kB",
            1_234_567: "1.2 MB",
            5e18: "5,000.0 PB",
        }[count]
    )
