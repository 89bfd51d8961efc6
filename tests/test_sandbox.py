"""Stages with a time budget, run in a child process: timeouts, crashes, reuse, same output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from filters.quality.stage import Quality
from pipeline.documents import document_schema
from pipeline.extract import Extract
from pipeline.inputs import input_shards, resolve_inputs
from pipeline.plan import shard_plans
from pipeline.readers import read_documents as read_batches
from pipeline.sandbox import StageTimeout, sandboxed
from pipeline.shard import apply_stage, grouped_order, process_shard
from pipeline.stats import Funnel, StageStats
from support.warcs import PARAGRAPH, page_record, write_warc
from tests.conftest import job, read_documents
from tests.faulty_stage import Faulty, LanguageProbe
from tests.stuck_quality import StuckQuality
from tests.test_quality_languages import page

PROSE = (
    "The river flooded the lower town twice last winter, and the council has now agreed "
    "to build a new wall along the bank. Work will start in the spring, when the water is low. "
    "The engineers say that the wall will protect about four hundred houses and the old market. "
    "Some residents would rather see the money spent on the school, which needs a new roof. "
    "A public meeting about both plans will be held in the library next month."
).replace(". ", ".\n")
"""A document every published quality family keeps."""

DEPTH = 60_000
"""Unclosed <span>s, then as many paragraphs: lexbor looks through the open elements at each
<p> (for one to close), which keeps the `tokenmill` engine busy for ~13 s on the 2-core
development machine: far past the tests' budgets of a second or two on faster ones too."""


def open_spans_then_paragraphs(depth: int) -> bytes:
    return b"<html><body>" + b"<span>" * depth + b"<p>deep</p>" * depth + b"</body></html>"


def documents(texts: list[str]) -> pa.Table:
    return pa.table({"id": [f"doc-{n}" for n in range(len(texts))], "text": texts})


def run_stage(stage, table: pa.Table) -> tuple[pa.Table, StageStats]:
    """`stage` over `table` as the shard runner applies it: the kept documents and the counts."""
    funnel = Funnel()
    schema = document_schema([])
    kept = apply_stage(stage, table, funnel, None, schema, np.random.default_rng(0))
    return kept, funnel.stages[stage.name]


def test_a_page_past_the_budget_is_errored_and_the_rest_of_its_batch_kept(tmp_path):
    records = [page_record(n) for n in range(4)]
    records.insert(2, page_record(99, body=open_spans_then_paragraphs(DEPTH)))
    warc = write_warc(tmp_path / "crawl.warc.gz", records)
    inputs = [{"source": "web", "format": "warc", "paths": [str(warc)]}]
    config = job(tmp_path / "out", inputs, [{"extract": {"timeout": 2}}])
    [shard] = input_shards(resolve_inputs(config))
    [plan] = shard_plans(config)
    result = process_shard(shard, plan)
    stats = result.funnel.stages["extract"]
    assert stats.docs_in == 5 and stats.errored == {"extract_timeout": 1}
    assert stats.kept == 4 and stats.conserved()
    [batch] = read_batches(shard.files[0], StageStats(), plan.batch_size)
    normal = batch.filter(pa.array(["/99" not in url for url in batch["url"].to_pylist()]))
    expected = Extract(Extract.Params()).process(normal).table
    kept = read_documents(tmp_path / "out")
    assert [(d["id"], d["text"]) for d in kept] == list(
        zip(expected["id"].to_pylist(), expected["text"].to_pylist(), strict=True)
    )


def test_a_document_that_kills_the_child_or_raises_costs_only_itself():
    sandbox = sandboxed(Faulty, Faulty.Params(timeout=5))
    kept, stats = run_stage(sandbox, documents(["a", "crash", "b", "raise", "c"]))
    assert kept["text"].to_pylist() == ["a", "b", "c"]
    assert stats.errored == {"faulty_error": 2} and stats.conserved()
    os.kill(sandbox.child.pid, signal.SIGKILL)  # between batches, as an OOM killer would
    kept, stats = run_stage(sandbox, documents(["d", "e"]))
    assert kept["text"].to_pylist() == ["d", "e"] and stats.errored == {}


def test_an_errored_documents_sample_says_what_it_raised_or_that_its_child_died():
    funnel = Funnel()
    sandbox = sandboxed(Faulty, Faulty.Params(timeout=5))
    table = documents(["a", "crash", "raise"])
    apply_stage(sandbox, table, funnel, None, document_schema([]), np.random.default_rng(0))
    causes = {entry["id"]: entry["detail"] for entry in funnel.samples["faulty"]["faulty_error"]}
    assert causes == {
        "doc-1": f"SandboxError: faulty: its child process died (exit code {-signal.SIGSEGV})",
        "doc-2": "ValueError: a document this stage cannot take",
    }


def test_the_child_is_reused_across_batches_and_replaced_after_a_timeout():
    sandbox = sandboxed(Faulty, Faulty.Params(timeout=1))
    child = sandbox.child
    sandbox.process(documents(["a"]))
    sandbox.process(documents(["b"]))
    assert sandboxed(Faulty, Faulty.Params(timeout=1)) is sandbox
    assert sandbox.child is child
    with pytest.raises(StageTimeout):
        sandbox.process(documents(["c", "hang"]))
    assert child.returncode == -signal.SIGKILL  # killed and reaped
    assert sandbox.process(documents(["d"])).table["text"].to_pylist() == ["d"]
    assert sandbox.child.pid != child.pid


def test_a_group_slow_as_a_whole_is_retried_and_later_groups_are_smaller():
    """64 documents of 20 ms each run past a 0.5 s budget together, not alone (a slow
    language's segmenter): none is errored, and the sandbox's later groups are halved until
    they fit. A group that holds a stuck document does not shrink them; fast documents grow
    them back, and past the first size, up to 256."""
    sandbox = sandboxed(Faulty, Faulty.Params(timeout=0.5))
    sizes = sandbox.group_sizes
    assert sizes.of(None) == 64
    kept, stats = run_stage(sandbox, documents(["slow"] * 128))
    assert kept.num_rows == 128 and stats.errored == {} and stats.conserved()
    shrunk = sizes.of(None)
    assert shrunk <= 16  # 64 and then 32 take 1.28 s and 0.64 s (16 fits, or 8 on a slow day)
    kept, stats = run_stage(sandbox, documents(["slow"] * 15 + ["hang"]))
    assert kept.num_rows == 15 and stats.errored == {"faulty_timeout": 1}
    assert sizes.of(None) == shrunk
    kept, stats = run_stage(sandbox, documents(["fast"] * 512))
    assert kept.num_rows == 512 and sizes.of(None) == 256


def test_each_language_s_groups_are_sized_apart():
    """400 fast English pages and 96 slow Korean ones (20 ms each, a 0.5 s budget) in one
    batch: English groups double (64, 128, then 208 of 256 are left), Korean ones start at
    64 of their own, run past the budget and halve; no group mixes the two."""
    languages = ["en"] * 400 + ["ko"] * 96
    texts = ["fast"] * 400 + ["slow"] * 96
    table = pa.table({"id": [f"doc-{n}" for n in range(496)], "text": texts, "language": languages})
    sandbox = sandboxed(LanguageProbe, LanguageProbe.Params(timeout=0.5))
    kept, stats = run_stage(sandbox, table)
    assert kept["id"].to_pylist() == table["id"].to_pylist() and stats.errored == {}
    groups = {key: count for key, count in stats.counters.items() if key.startswith("groups")}
    # Korean's groups of 64 and then 32 ran past the budget and were retried one by one.
    assert groups == {
        "groups_of_64_en": 1,
        "groups_of_128_en": 1,
        "groups_of_208_en": 1,
        "groups_of_1_ko": 96,
    }
    assert stats.counters["languages"] == 3 + 96
    assert sandbox.group_sizes.of("en") == 256 and sandbox.group_sizes.of("ko") == 16


def test_what_a_group_needs_loaded_is_loaded_before_its_budget_starts():
    """A document that needs a second's load before it can be judged (a language's word
    rules, in a child just started) fits a 0.6 s budget: the load is not timed, and it is
    counted as the stage's start-up, not its work."""
    sandbox = sandboxed(Faulty, Faulty.Params(timeout=0.6))  # its own: a fresh child
    kept, stats = run_stage(sandbox, documents(["a", "heavy", "b"]))
    assert kept.num_rows == 3 and stats.errored == {} and sandbox.group_sizes.of(None) == 64
    assert stats.startup_s >= 1.0 and stats.elapsed_s < 0.5, stats


def test_a_timed_stage_gets_each_language_together_and_its_verdict_back_in_order():
    """128 documents in four languages, interleaved, go to a stage that judges each language
    apart: sorted by language, each language's 32 go in one group of their own (four passes,
    not one per language of each group of 64), and the documents come back in their order."""
    table = pa.table(
        {
            "id": [f"doc-{n}" for n in range(128)],
            "text": ["x"] * 128,
            "language": ["en", "de", "fr", "es"] * 32,
        }
    )
    kept, stats = run_stage(sandboxed(LanguageProbe, LanguageProbe.Params()), table)
    assert kept["id"].to_pylist() == table["id"].to_pylist()
    assert stats.counters["languages"] == 4


def test_a_batch_is_grouped_by_any_language_column_and_never_fails_on_one():
    """Each value's rows together in their order, nulls last, whether the column is plain or
    dictionary-encoded; a column of a type with no order leaves the batch as it is."""
    languages = ["en", None, "de", "en", "de"]
    for column in (pa.array(languages), pa.array(languages).dictionary_encode()):
        order = grouped_order(pa.table({"language": column}), "language")
        assert order.tolist() == [2, 4, 0, 3, 1]
    unordered = pa.table({"language": [{"code": "en"}, {"code": "de"}]})
    assert grouped_order(unordered, "language") is None


def test_interleaved_languages_are_judged_as_each_language_alone():
    """Pages in four languages, long and short, interleaved: the sandboxed quality stage
    (given each language's pages together) keeps and removes the same pages, in the same
    order, as the stage judging the whole table in one call."""
    languages = ["en", "de", "es", "it"] * 6
    texts = [page(language, lines=1 + 5 * (n % 3)) for n, language in enumerate(languages)]
    table = pa.table({"id": [f"doc-{n}" for n in range(24)], "text": texts, "language": languages})
    # Pages that repeat one sentence: the repetition and line rules would remove them all.
    params = Quality.Params(gopher_repetition=None, fineweb=None)
    kept, stats = run_stage(sandboxed(Quality, params), table)
    expected, expected_stats = run_stage(Quality(params), table)
    assert kept.equals(expected) and stats.removed == expected_stats.removed
    assert 0 < kept.num_rows < table.num_rows


@pytest.mark.slow
def test_a_new_language_s_word_rules_load_outside_the_budget():
    """Korean, Thai, Vietnamese and Chinese pages in a child just started: their segmenters
    and spaCy's rules take seconds to load, more than the 1 s budget, which judging the
    pages needs a fraction of. None is errored and the group size stays."""
    texts = {language: page(language, lines=3) for language in ("ko", "th", "vi", "zh")}
    table = pa.table({"id": list(texts), "text": list(texts.values()), "language": list(texts)})
    sandbox = sandboxed(Quality, Quality.Params(timeout=1))
    kept, stats = run_stage(sandbox, table)
    assert stats.errored == {} and stats.conserved() and sandbox.group_sizes.of("ko") == 64
    expected, expected_stats = run_stage(Quality(Quality.Params()), table)
    assert kept.equals(expected) and stats.removed == expected_stats.removed


def test_the_quality_and_pii_children_start_without_torch():
    """spaCy (through thinc) and presidio import torch and transformers when installed:
    seconds of each child's start-up, for models these stages never use."""
    script = (
        "import sys, pyarrow as pa\n"
        "from filters.pii import Pii\n"
        "from filters.quality.stage import Quality\n"
        "batch = pa.table({'text': ['Write to ann@example.org about the river.']})\n"
        "for stage in (Quality(Quality.Params()), Pii(Pii.Params())):\n"
        "    stage.try_load()\n"
        "    stage.process(batch)\n"
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_quality_timeout_is_handled_the_same_way():
    texts = [PROSE, PARAGRAPH.split(". ")[0] + ".", "hang"]  # kept, removed, stuck
    params = Quality.Params(timeout=1)
    kept, stats = run_stage(sandboxed(StuckQuality, params), documents(texts))
    assert stats.errored == {"quality_timeout": 1} and stats.conserved()
    expected, expected_stats = run_stage(Quality(params), documents(texts[:2]))
    assert kept["text"].to_pylist() == [PROSE] and kept.equals(expected)
    assert stats.removed == expected_stats.removed and stats.counters == expected_stats.counters


@pytest.mark.slow
def test_loading_a_stage_is_its_start_up_not_its_work(tmp_path):
    """A new sandbox child (unique params) imports and loads spaCy's word rules: start-up; the
    next shard reuses the child and starts at once."""
    path = tmp_path / "wiki.jsonl"
    path.write_text((json.dumps({"text": PROSE}) + "\n") * 8)
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(path)]}]
    config = job(tmp_path / "out", inputs, [{"quality": {"timeout": 29.25}}])
    [shard] = input_shards(resolve_inputs(config))
    [plan] = shard_plans(config)
    first = process_shard(shard, plan).funnel.stages["quality"]
    again = process_shard(shard, plan).funnel.stages["quality"]
    assert first.docs_in == again.docs_in == 8
    # Loading outweighs the first shard's work; the second shard's child is up already.
    assert first.elapsed_s < first.startup_s, first
    assert again.startup_s < first.startup_s / 10, (first, again)


@pytest.mark.slow
def test_a_language_s_rules_loaded_mid_shard_are_start_up_not_work_or_reading(tmp_path):
    """Dutch and French pages in a new sandbox child: loading their word rules (4.7 s on the
    2-core development machine) happens after the shard's stages are built, while its
    batches are read and judged. It counts as the quality stage's start-up, not as its
    work, nor as reading."""
    path = tmp_path / "pages.jsonl"
    path.write_text(
        "".join(json.dumps({"text": page(code, lines=4)}) + "\n" for code in ("nl", "fr"))
    )
    inputs = [{"source": "web", "format": "jsonl", "paths": [str(path)]}]
    config = job(tmp_path / "out", inputs, [{"language": {}}, {"quality": {"timeout": 28.5}}])
    [shard] = input_shards(resolve_inputs(config))
    [plan] = shard_plans(config)
    stages = process_shard(shard, plan).funnel.stages
    assert stages["quality"].docs_in == 2 and stages["quality"].errored == {}
    assert stages["quality"].elapsed_s < 1.0 and stages["read"].elapsed_s < 1.0, stages
