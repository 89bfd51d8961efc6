"""The run report: merged statistics equal a recount of the output, the HTML page renders
in a real headless Chromium, and the CLI summarises, writes and compares reports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.histogram import SIGNALS, Histogram
from pipeline.sample import keep_lowest, lowest
from support.warcs import page_record, write_warc
from tests.conftest import SAMPLE, job, run

TOKENMILL = [sys.executable, "-m", "pipeline.cli"]


@pytest.fixture(scope="module")
def sample_run(local_ray, tmp_path_factory):
    """The bundled sample plus a crawl of empty pages through language ID, dedup and the
    token mixture (wiki twice), every removed document kept."""
    folder = tmp_path_factory.mktemp("report")
    empty = [page_record(n, body=b"<html><body></body></html>") for n in range(7)]
    write_warc(folder / "empty.warc.gz", [*empty, page_record(99)])
    inputs = [
        {"source": "web", "format": "warc", "paths": [str(SAMPLE / "*.warc.gz")]},
        {"source": "blank", "format": "warc", "paths": [str(folder / "empty.warc.gz")]},
        {"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]},
    ]
    out = folder / "out"
    stages = [{"extract": {}}, {"language": {"keep": ["en"], "min_score": 0.65}}, {"dedup": {}}]
    tokens = {"tokenizer": {"train": {"vocab_size": 512}}, "mixture": {"epochs": {"wiki": 2}}}
    summary = run(job(out, inputs, stages, keep_removed=True, **tokens))
    return out, summary.report


def test_the_funnel_equals_a_recount_of_kept_and_removed_documents(sample_run):
    out, report = sample_run
    kept = pq.read_table(out / "documents")
    removed = pq.read_table(out / "removed")
    recount = Counter(zip(removed["stage"].to_pylist(), removed["reason"].to_pylist(), strict=True))
    removed_bytes = Counter()
    for row in removed.select(["stage", "reason", "text"]).to_pylist():
        removed_bytes[row["stage"], row["reason"]] += len((row["text"] or "").encode())
    stages = report["funnel"]
    assert stages[-2]["kept"] == kept.num_rows == report["documents"]
    assert stages[-2]["bytes_kept"] == pc.sum(pc.binary_length(kept["text"])).as_py()
    assert recount[("extract", "empty_text")] == 7
    *documents, mixture = stages
    assert mixture["stage"] == "mixture" and mixture["docs_in"] == kept.num_rows
    for entry in documents[1:]:  # `read` drops records, not documents: nothing to write
        dropped = {
            reason: n for reason, n in (*entry["removed"].items(), *entry["errored"].items()) if n
        }
        assert dropped == {r: n for (s, r), n in recount.items() if s == entry["stage"]}
        assert entry["bytes_dropped"] == {
            r: n for (s, r), n in removed_bytes.items() if s == entry["stage"]
        }
        assert entry["docs_in"] == entry["kept"] + sum(dropped.values())


def test_the_domains_equal_a_recount_of_kept_and_removed_documents(sample_run):
    """Recounted by urllib's URL parser from OUT/documents and OUT/removed."""
    from urllib.parse import urlsplit

    def domain(url):
        host = urlsplit(url).hostname if url else None
        return host.removeprefix("www.") if host else "(no url)"

    out, report = sample_run
    kept = Counter(domain(u) for u in pq.read_table(out / "documents")["url"].to_pylist())
    removed = pq.read_table(out / "removed", columns=["url", "stage", "reason"]).to_pylist()
    dropped = Counter(domain(row["url"]) for row in removed)
    reasons = Counter((domain(r["url"]), f"{r['stage']}: {r['reason']}") for r in removed)
    listed = report["domains"]
    assert len(listed) == min(25, len(kept | dropped))
    assert [d["documents"] for d in listed] == sorted(
        (d["documents"] for d in listed), reverse=True
    )
    for entry in listed:
        name = entry["name"]
        assert (entry["kept"], entry["removed"]) == (kept[name], dropped[name]), name
        assert entry["documents"] == kept[name] + dropped[name]
        mine = {reason: n for (host, reason), n in reasons.items() if host == name}
        assert sum(entry["top_reasons"].values()) == sum(sorted(mine.values())[-3:])
        assert all(mine[reason] == n for reason, n in entry["top_reasons"].items())


def test_the_profile_equals_a_recount_of_the_kept_documents(sample_run):
    out, report = sample_run
    kept = pq.read_table(out / "documents")
    sources = Counter(kept["source"].to_pylist())
    assert {row["name"]: row["documents"] for row in report["sources"]} == sources
    languages = Counter(kept["language"].to_pylist())
    assert {row["name"]: row["documents"] for row in report["languages"]} == languages
    scores = report["histograms"]["language_score"]
    assert scores["count"] == kept.num_rows and scores["min"] >= 0.65
    assert sum(row["bytes"] for row in report["sources"]) == report["text_bytes"]
    lengths = pc.utf8_length(kept["text"]).to_numpy()
    length = report["histograms"]["length"]
    assert length["count"] == kept.num_rows
    assert length["total"] == lengths.sum()
    assert (length["min"], length["max"]) == (lengths.min(), lengths.max())
    assert length["counts"] == np.histogram(lengths, bins=length["edges"])[0].tolist()
    ids = set(kept["id"].to_pylist())
    assert len(report["kept_samples"]) == 24
    assert all(sample["id"] in ids for sample in report["kept_samples"])
    empty = report["removed_samples"]["extract"]["empty_text"]
    assert len(empty) == 6 and all(s["url"].startswith("https://news.example.com") for s in empty)


def test_partial_histograms_and_samples_merge_into_those_of_the_whole():
    rng = np.random.default_rng(7)
    values = pa.array(np.concatenate([rng.lognormal(6, 2, 5000), [np.nan]]))
    signal = next(s for s in SIGNALS if s.name == "perplexity")
    whole, merged = Histogram(signal.edges), Histogram(signal.edges)
    whole.add(values)
    for part in np.array_split(np.arange(len(values)), 7):
        partial = Histogram(signal.edges)
        partial.add(values.take(pa.array(part)))
        merged.merge(Histogram.from_json(json.loads(json.dumps(partial.to_json()))))
    exact = ("counts", "missing", "min", "max")
    assert [merged.to_json()[k] for k in exact] == [whole.to_json()[k] for k in exact]
    assert merged.total == pytest.approx(whole.total)
    assert (whole.count, whole.missing) == (5000, 1)
    assert whole.quantile(0.0) == whole.minimum and whole.quantile(1.0) == whole.maximum
    table = pa.table({"id": [str(n) for n in range(1000)], "text": ["x"] * 1000})
    ranks = rng.random(1000)
    parts = [lowest(table.slice(i, 100), ranks[i : i + 100], 5, []) for i in range(0, 1000, 100)]
    sample = keep_lowest([entry for part in parts for entry in part], 5)
    assert [s["id"] for s in sample] == [str(i) for i in np.argsort(ranks)[:5]]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "chromium and chromium-driver are not installed: run `make system` (make test does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


@pytest.mark.browser
@pytest.mark.slow
def test_the_html_report_renders_in_chromium_with_the_funnel_numbers(sample_run):
    from selenium.webdriver.common.by import By

    out, report = sample_run
    page = out / "report" / "report.html"
    assert "http" not in page.read_text().split("<main>")[0].replace("http-equiv", "")
    driver = browser()
    try:
        driver.get(page.as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        assert driver.title == f"tokenmill report: {report['name']}"
        for entry in report["funnel"]:
            row = driver.find_element(By.ID, f"funnel-{entry['stage']}")
            shown = [row.find_element(By.CSS_SELECTOR, f"td.{c}").text for c in ("in", "kept")]
            assert shown == [f"{entry['docs_in']:,}", f"{entry['kept']:,}"]
        cards = driver.find_element(By.ID, "id-documents").text
        assert f"{report['documents']:,}" in cards
        assert len(driver.find_elements(By.CSS_SELECTOR, "#hist-length rect.bar")) > 3
        mixture = driver.find_elements(By.CSS_SELECTOR, "#mixture tbody tr")
        assert len(mixture) == len(report["tokens"]["mixture"]) == 3
        summary = driver.find_element(By.XPATH, "//summary[contains(., 'empty_text')]")
        summary.click()
        assert "news.example.com/story/0" in summary.find_element(By.XPATH, "..").text
    finally:
        driver.quit()


def test_report_command_summarises_writes_html_and_compares(sample_run, local_ray, tmp_path):
    out, report = sample_run
    other = tmp_path / "wiki"
    wiki = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]
    run(job(other, wiki, [{"extract": {}}]))
    shown = subprocess.run([*TOKENMILL, "report", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"extract\W+empty_text\W+removed\W+7", shown.stdout)
    assert "…" not in shown.stdout  # at 80 columns long names fold, never cut
    assert "language_score" in shown.stdout and "mixture" in shown.stdout
    page = tmp_path / "page.html"
    written = subprocess.run(
        [*TOKENMILL, "report", str(out), "--html", str(page)], capture_output=True, text=True
    )
    assert written.returncode == 0, written.stderr
    assert page.read_text() == (out / "report" / "report.html").read_text()
    nested = tmp_path / "pages" / "today" / "page.html"
    unmade = "/sys/tokenmill-test/page.html"  # [Errno 1], after reading the report
    for where, said in (
        (nested, f"wrote {nested}"),
        (tmp_path, f"--html: {tmp_path} is a fold"),
        (unmade, "--html: /sys/tokenmill-test cannot be made: Operation not permitted"),
    ):
        done = subprocess.run(
            [*TOKENMILL, "report", str(out), "--html", str(where)], capture_output=True, text=True
        )
        assert said in " ".join(done.stderr.split()), done.stderr
    assert nested.read_text() == page.read_text()
    compared = subprocess.run(
        [*TOKENMILL, "report", str(out), "--compare", str(other), "--json"],
        capture_output=True,
        text=True,
    )
    comparison = json.loads(compared.stdout)
    rows = {(r["section"], r["name"]): r for r in comparison["rows"]}
    assert rows["run", "documents kept"]["a"] == report["documents"]
    assert rows["run", "documents kept"]["b"] == 40
    assert rows["removed", "extract: empty_text"]["delta"] == -7
    assert rows["source", "web"]["b"] == 0
    assert all(row["a"] != row["b"] for row in comparison["rows"])
    assert ("source", "wiki") not in rows and comparison["unchanged_rows"] > 0
    changes = {change["key"]: (change["a"], change["b"]) for change in comparison["config"]}
    assert changes["stages"] == (["extract", "language", "dedup"], ["extract"])
    assert changes["keep_removed"] == (True, False)
    assert changes["stages.language.min_score"] == (0.65, None)
    assert "execution.batch_size" not in changes
    kept_a = set(pq.read_table(out / "documents", columns=["id"])["id"].to_pylist())
    kept_b = set(pq.read_table(other / "documents", columns=["id"])["id"].to_pylist())
    fates = comparison["fates"]
    assert fates["kept_only_in_a"]["documents"] == len(kept_a - kept_b) > 0
    assert fates["kept_only_in_b"]["documents"] == len(kept_b - kept_a)
    for sample in fates["kept_only_in_a"]["samples"]:
        assert sample["id"] in kept_a - kept_b and sample["a"] == "kept"
        assert sample["b"] == (
            "not read (the run has no source 'web')"
            if sample["source"] == "web"
            else "not kept (the run did not keep removed documents)"
        )
    table = subprocess.run(
        [*TOKENMILL, "report", str(out), "--compare", str(other)], capture_output=True, text=True
    )
    assert "documents kept" in table.stdout and "−" in table.stdout
    assert "unchanged rows not shown" in table.stdout and "…" not in table.stdout
    assert f"documents kept only in A: {len(kept_a - kept_b):,}" in table.stdout
    backwards = subprocess.run(
        [*TOKENMILL, "report", str(other), "--compare", str(out), "--html", str(page)],
        capture_output=True,
        text=True,
    )
    assert backwards.returncode == 0, backwards.stderr
    html = page.read_text()
    assert '<table id="config">' in html and "stages.language.min_score" in html
    assert "Kept only in B: " + f"{len(kept_a - kept_b):,}" in html
    assert "<code>B=kept</code><code>A=not read (the run has no source" in html


def test_report_names_the_run_folder_it_wants(tmp_path, capsys):
    from pipeline.cli import main

    (tmp_path / "run" / "report").mkdir(parents=True)
    (tmp_path / "run" / "report" / "report.json").write_text("{}")
    (tmp_path / "run" / "documents").mkdir()
    wanted = {
        tmp_path / "absent": "no such folder",
        tmp_path: "no report/report.json (has the run finished?)",
    }
    for inside in ("report", "report/report.json", "documents"):
        wanted[tmp_path / "run" / inside] = (
            f"not a run's output folder; did you mean {tmp_path / 'run'}?"
        )
    for folder, why in wanted.items():
        assert main(["report", str(folder)]) == 2
        assert " ".join(capsys.readouterr().err.split()) == f"config error: {folder}: {why}"


def test_a_report_or_state_file_changed_since_the_run_is_one_line_naming_it(tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.output import RunOutput
    from pipeline.report.build import REPORT_SCHEMA_VERSION
    from pipeline.schema import ConfigError
    from pipeline.state import check_plan

    report = tmp_path / "report" / "report.json"
    report.parent.mkdir()
    for text, error in (
        ('{"schema_version": 2, "stag', "not the JSON tokenmill wrote (Unterminated string"),
        (
            '{"schema_version": 1}',
            f"report schema version 1; this tokenmill reads version {REPORT_SCHEMA_VERSION}",
        ),
    ):
        report.write_text(text)
        assert main(["report", str(tmp_path)]) == 2
        printed = " ".join(capsys.readouterr().err.split())
        assert printed.startswith(f"config error: {report}: {error}"), printed
    # Written by a run (its ledger has the sha256), then edited: the types no longer the
    # report's gave a traceback.
    RunOutput(str(tmp_path)).write_json(
        {"schema_version": 2, "funnel": []}, "report", "report.json"
    )
    report.write_text('{"schema_version": 2, "funnel": "x"}')
    assert main(["report", str(tmp_path)]) == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        f"config error: {report}: not what the run wrote (changed since); running the run's "
        "command again writes it anew"
    )
    plan = tmp_path / "_state" / "plan.json"
    plan.parent.mkdir(exist_ok=True)
    plan.write_bytes(b'{"digest": "ab\xff')
    with pytest.raises(ConfigError, match=r"plan\.json: not the JSON .* `tokenmill run --fresh`"):
        check_plan(RunOutput(str(tmp_path)), "ab")


def test_a_document_of_a_source_the_other_run_lacks_was_not_read_by_it(tmp_path):
    """It said `not kept (the run did not keep removed documents)` of a source the other run
    never had."""
    from pipeline.output import RunOutput
    from pipeline.report.fates import changed_fates

    for name in ("a", "b"):
        (tmp_path / name / "documents").mkdir(parents=True)
    rows = [{"id": f"{s}-1", "url": None, "source": s, "text": "t"} for s in ("web", "wiki")]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a" / "documents" / "x.parquet")
    manifests = [
        {"config": {"inputs": [{"source": "web"}, {"source": "wiki"}]}},
        {"config": {"inputs": [{"source": "wiki"}]}},
    ]
    fates = changed_fates(RunOutput(str(tmp_path / "a")), RunOutput(str(tmp_path / "b")), manifests)
    assert {sample["id"]: sample["b"] for sample in fates["kept_only_in_a"]["samples"]} == {
        "web-1": "not read (the run has no source 'web')",
        "wiki-1": "not kept (the run did not keep removed documents)",
    }


def test_runs_of_the_same_files_at_other_paths_say_their_documents_are_not_matched(
    local_ray, tmp_path
):
    """Ids hash each input's path: two checkouts' runs of the bundled sample shared none, and
    the comparison said every document was kept only in A and `not read` by B."""
    from pipeline.output import RunOutput
    from pipeline.report.compare import compare_runs

    for checkout in ("one", "two"):
        (tmp_path / checkout).mkdir()
        shutil.copy(SAMPLE / "wiki.jsonl", tmp_path / checkout / "wiki.jsonl")
        inputs = [{"source": "wiki", "format": "jsonl", "paths": [f"{tmp_path / checkout}/*"]}]
        run(job(tmp_path / f"out-{checkout}", inputs))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "wiki.jsonl").write_text('{"text": "another article"}\n')
    other = [{"source": "wiki", "format": "jsonl", "paths": [str(tmp_path / "other/wiki.jsonl")]}]
    run(job(tmp_path / "out-other", other))
    one, two, third = (RunOutput(str(tmp_path / f"out-{n}")) for n in ("one", "two", "other"))
    assert compare_runs(one, two)["fates"] == {
        "unmatched": "not matched: ids hash each input's path, and the runs read the same files "
        f"at other paths ({tmp_path}/one/wiki.jsonl in A is {tmp_path}/two/wiki.jsonl in B); "
        "run both on the same paths to see which documents changed fate"
    }
    assert compare_runs(one, one)["fates"]["kept_only_in_a"]["documents"] == 0
    assert compare_runs(one, third)["fates"]["kept_only_in_a"]["documents"] == 40
