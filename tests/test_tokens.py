"""Tokenizer, mixture and token shards: real BPE training, a real local Ray, duckdb recounts."""

from __future__ import annotations

import json
import math
import random
import re
import string
import time
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pytest
from tokenizers import Tokenizer, pre_tokenizers, trainers

from mixing.budget import chinchilla_tokens, parse_count
from mixing.config import MixtureConfig
from mixing.mixture import BUCKETS, SourceCounts, plan_mixture
from pipeline.cli import main
from pipeline.report.mixture_misses import mixture_misses
from pipeline.schema import ConfigError
from tests.conftest import SAMPLE, job, run
from tokenizer.bpe import load_tokenizer, new_bpe, train_bpe
from trainer.chat import SPECIAL_TOKENS
from trainer.data import train_shards, val_shards, verify_checksums

MULTILINGUAL = [
    "Strawberry fields, 1234567 times.",
    "Erdbeeren schmecken süß; Größe: 3,5 cm.",
    "La fraise est un « faux-fruit » rouge.",
    "Клубника — многолетнее травянистое растение.",
    "草莓是一种红色的水果。日本語のテキストも。",
    "الفراولة فاكهة حمراء",
    "🍓 emoji, tabs\tand\nnewlines  and e\u0301 (a combining accent)",
    "a literal <|eos|> and <|bos|> in text stays text",
]


def sample_sentences() -> list[str]:
    texts = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    return [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    return train_bpe(sample_sentences() + MULTILINGUAL, vocab_size=1024)


def test_decode_encode_round_trips_multilingual_text(bpe):
    for text in MULTILINGUAL:
        ids = bpe.encode(text, add_special_tokens=False).ids
        assert bpe.decode(ids, skip_special_tokens=False) == text


def test_special_tokens_have_the_fixed_ids_and_never_match_document_text(bpe):
    assert [bpe.token_to_id(token) for token in SPECIAL_TOKENS] == list(range(7))
    assert bpe.id_to_token(1) == "<|bos|>" and bpe.id_to_token(6) == "<|end|>"
    ids = bpe.encode("before <|eos|> after", add_special_tokens=False).ids
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))


def test_a_word_of_a_megabyte_trains_in_linear_time_and_natural_text_as_before():
    """The BPE trainer rescans a word at each merge of a pair it holds: 100,000 random
    letters without a space took 3.9 s to train on, and the time grew with the square of
    the length; cut into pieces, a million take under a second. Text whose words are all shorter than a piece trains the tokenizer
    that training without the cut gives, and the trained tokenizer splits text without it."""
    letters = "".join(random.Random(0).choices(string.ascii_lowercase, k=1_000_000))
    started = time.perf_counter()
    trained = train_bpe([*sample_sentences(), letters], vocab_size=1024)
    assert time.perf_counter() - started < 10
    assert (
        json.loads(trained.to_str())["pre_tokenizer"]
        == json.loads(new_bpe().to_str())["pre_tokenizer"]
    )
    uncut = new_bpe()
    uncut.train_from_iterator(
        sample_sentences(),
        trainers.BpeTrainer(
            vocab_size=1024,
            min_frequency=2,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    assert train_bpe(sample_sentences(), vocab_size=1024).get_vocab() == uncut.get_vocab()


def test_a_tokenizer_with_other_special_ids_is_refused(bpe, tmp_path):
    good = tmp_path / "good.json"
    bpe.save(str(good))
    assert load_tokenizer(str(good)).get_vocab() == bpe.get_vocab()
    other = new_bpe()  # another project's tokenizer: its own special tokens, in its own order
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>", "<|bos|>"])
    other.train_from_iterator(sample_sentences(), trainer)
    other.save(str(tmp_path / "bad.json"))
    with pytest.raises(
        ValueError, match=r"<\|pad\|> is None, expected 0; <\|bos\|> is 2, expected 1"
    ):
        load_tokenizer(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="file not found"):
        load_tokenizer(str(tmp_path / "missing.json"))


def test_budgets_and_a_plan_from_counts():
    assert parse_count("125M") == 125_000_000 and parse_count("1.3B") == 1_300_000_000
    assert chinchilla_tokens("125M") == 2_500_000_000
    counts = {}
    for source, tokens in (("web", 100), ("wiki", 10)):
        entry = SourceCounts()
        entry.documents += 1
        entry.tokens += tokens
        counts[source] = entry
    plans = {
        p.source: p for p in plan_mixture(MixtureConfig(weights={"web": 0.5, "wiki": 0.5}), counts)
    }
    # no budget: the largest that repeats nothing is limited by wiki's 10 * 4096 tokens
    assert plans["wiki"].full_copies == 1 and plans["wiki"].partial_buckets == 0
    assert plans["wiki"].realised_tokens == 10 * BUCKETS
    # web keeps the 410 lowest buckets: 41,000 tokens, nearest to wiki's 40,960
    assert plans["web"].partial_buckets == 410 and plans["web"].downsampled == BUCKETS - 410
    # A weighted source the stages kept nothing of: its share was left unmet without a word.
    with pytest.raises(ConfigError) as raised:
        plan_mixture(MixtureConfig(weights={"web": 0.5, "wiki": 0.2, "rp": 0.3}), counts)
    assert str(raised.value) == (
        "mixture.weights: rp: no training tokens to weight (no document of it was kept: the "
        "report's funnel says where they went); give it weight 0 to mix the others alone"
    )
    assert len(plan_mixture(MixtureConfig(weights={"web": 1, "wiki": 1, "rp": 0}), counts)) == 2
    epochs = plan_mixture(MixtureConfig(epochs={"wiki": 2.5}), counts)
    assert [(p.source, p.full_copies, p.partial_buckets) for p in epochs] == [
        ("web", 1, 0),
        ("wiki", 2, BUCKETS // 2),
    ]
    assert epochs[1].copies(np.array([0, BUCKETS - 1])).tolist() == [3, 2]
    # A source the validation draw took whole: it said "the stages kept none of its documents".
    counts["rp"] = SourceCounts(val_documents=3, val_tokens=30)
    for config in (MixtureConfig(weights={"web": 1, "rp": 1}), MixtureConfig()):
        with pytest.raises(ConfigError) as raised:
            plan_mixture(config.model_copy(update={"validation": 0.99}), counts)
        assert str(raised.value) == (
            "mixture.validation: 0.99 held out every document of rp (3), leaving none to train "
            "on; hold out a smaller share"
        )
    assert len(plan_mixture(MixtureConfig(weights={"web": 1, "rp": 0}), counts)) == 3


def test_a_source_that_would_give_no_training_tokens_is_refused():
    """Two books of a million tokens each: 5% of a million-token target is nearer none of
    them than one, so the plan would leave books out (and a run whose every source is so
    would write no training shard, exit 0). 60% draws one."""
    web, books = SourceCounts(), SourceCounts()
    web.documents += 1
    web.tokens += 1_000
    books.documents[[3, 900]] = 1
    books.tokens[[3, 900]] = 1_000_000
    counts = {"web": web, "books": books}
    with pytest.raises(ConfigError) as raised:
        plan_mixture(
            MixtureConfig(weights={"web": 0.95, "books": 0.05}, target_tokens=10**6), counts
        )
    assert str(raised.value) == (
        "mixture: books would give no training tokens: its part of the budget, 50,000 tokens, "
        "is nearer none than its first documents in sampling order (1,000,000 tokens); give "
        "it a larger part (mixture.target_tokens, weights or epochs)"
    )
    plans = plan_mixture(
        MixtureConfig(weights={"web": 0.4, "books": 0.6}, target_tokens=10**6), counts
    )
    assert [plan.realised_tokens for plan in plans] == [400_000, 1_000_000]


def test_a_source_far_from_its_part_is_noted():
    """60,000 tokens asked of a source whose 48 documents average 53,712 tokens: documents
    are drawn whole, so the plan's nearest bucket gave 17,763 (a real run's numbers)."""
    row = {
        "source": "wiki",
        "requested_epochs": 0.023272,
        "requested_tokens": 60_000,
        "available_documents": 48,
        "available_tokens": 2_578_159,
        "tokens": 17_763,
    }
    assert mixture_misses({"mixture": [row]}) == [
        "mixture: wiki: 17,763 training tokens where 60,000 were asked (-70%): documents are "
        "drawn whole, and its part is 1.1 of its documents on average (its 48 hold 2,578,159 "
        "tokens); a larger part (mixture.target_tokens, weights or epochs) comes closer"
    ]
    assert mixture_misses({"mixture": [{**row, "tokens": 54_001}, {**row, "tokens": 65_999}]}) == []
    assert (
        "where 66,000 were asked (+67%)"
        in mixture_misses({"mixture": [{**row, "requested_tokens": 66_000, "tokens": 110_000}]})[0]
    )
    # a report from before `requested_tokens`: from the rounded epochs
    del row["requested_tokens"]
    assert "where 59,999 were asked" in mixture_misses({"mixture": [row]})[0]


def test_mixture_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"mixture.weights: give a weight for every source"):
        job(Path("o"), three_sources(Path("/nonexistent")), mixture={"weights": {"a": 1}})
    with pytest.raises(ConfigError, match=r"mixture\.chinchilla_params"):
        job(Path("o"), three_sources(Path("/x")), mixture={"chinchilla_params": "lots"})
    with pytest.raises(ConfigError, match="`epochs` fix the token count"):
        job(Path("o"), three_sources(Path("/x")), mixture={"epochs": {}, "target_tokens": 5})
    with pytest.raises(ConfigError, match="tokenizer: give exactly one of"):
        job(Path("o"), three_sources(Path("/x")), tokenizer={})
    with pytest.raises(ConfigError, match=r"mixture\.epochs: every source at 0 leaves no tokens"):
        job(Path("o"), three_sources(Path("/x")), mixture={"epochs": {"a": 0, "b": 0, "c": 0}})
    assert job(Path("o"), three_sources(Path("/x")), mixture={"epochs": {"a": 0, "b": 0}})


def three_sources(folder: Path) -> list[dict]:
    return [
        {"source": name, "format": "jsonl", "paths": [str(folder / f"{name}.jsonl")]}
        for name in ("a", "b", "c")
    ]


def write_three_sources(folder: Path) -> list[dict]:
    """The sample's wiki sentences dealt round-robin into three sources."""
    folder.mkdir(parents=True, exist_ok=True)
    sentences = sample_sentences()
    for index, name in enumerate(("a", "b", "c")):
        with (folder / f"{name}.jsonl").open("w") as handle:
            for sentence in sentences[index::3]:
                handle.write(json.dumps({"text": sentence}) + "\n")
    return three_sources(folder)


def shards(out: Path, pattern: str = "tokens/*.parquet") -> str:
    return f"read_parquet('{out}/{pattern}')"


def test_every_source_with_two_documents_gets_validation_documents(local_ray, tmp_path):
    sentences = sample_sentences()
    sizes = {"big": 60, "small": 2, "single": 1}
    inputs = []
    for source, size in sizes.items():
        path = tmp_path / f"{source}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[:size]))
        inputs.append({"source": source, "format": "jsonl", "paths": [str(path)]})
    out = tmp_path / "out"
    mixture = {"validation": 0.01}  # a per-document draw alone: P(small gets one) = 2 %
    run(job(out, inputs, mixture=mixture, tokenizer={"train": {"vocab_size": 600}}))
    db = duckdb.connect()
    held = dict(
        db.sql(
            f"SELECT source, count(*) FROM {shards(out, 'tokens/val/*.parquet')} GROUP BY source"
        ).fetchall()
    )
    assert held.get("small", 0) >= 1 and held.get("big", 0) >= 1
    trained = dict(
        db.sql(f"SELECT source, count(DISTINCT id) FROM {shards(out)} GROUP BY source").fetchall()
    )
    # `single`'s one document could itself fall to the per-document draw (1 %, fixed by its
    # text and the seed), leaving none to train on.
    assert {source: trained.get(source, 0) + held.get(source, 0) for source in sizes} == sizes


def test_the_same_inputs_in_another_folder_give_the_same_tokens(local_ray, tmp_path):
    """Ids hash each input's absolute path; the tokenizer's sample, the validation split and
    the mixture's draws and order do not, so a checkout elsewhere (another machine, another
    user's home) trains the same model on the same data."""
    outputs = []
    for folder in (tmp_path / "a", tmp_path / "b" / "elsewhere"):
        mixture = {"weights": {"a": 0.5, "b": 0.3, "c": 0.2}, "target_tokens": 10_000}
        config = job(
            folder / "out",
            write_three_sources(folder / "in"),
            mixture={**mixture, "validation": 0.1, "shard_tokens": 2500},
            tokenizer={"train": {"vocab_size": 600}},
        )
        run(config)
        outputs.append(folder / "out")
    db = duckdb.connect()

    def tokens(out: Path, pattern: str) -> list[tuple]:
        return db.sql(
            f"SELECT parse_filename(filename, false, 'system'), source, copy, input_ids "
            f"FROM read_parquet('{out}/{pattern}', filename=true) ORDER BY ALL"
        ).fetchall()

    first, second = outputs
    assert (first / "tokenizer" / "tokenizer.json").read_bytes() == (
        second / "tokenizer" / "tokenizer.json"
    ).read_bytes()
    for pattern in ("tokens/*.parquet", "tokens/val/*.parquet"):
        assert tokens(first, pattern) == tokens(second, pattern), pattern
    ids = [
        {row[0] for row in db.sql(f"SELECT id FROM {shards(out)}").fetchall()} for out in outputs
    ]
    assert not ids[0] & ids[1]  # the ids do differ


def test_a_run_that_keeps_no_document_says_so_instead_of_tokenizing_nothing(local_ray, tmp_path):
    """Every document removed: the report is written and the run fails on one line, rather
    than a tokenizer trained on nothing (a traceback) or token shards of nothing."""
    from pipeline.plan import NOTHING_TO_TOKENIZE

    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in sample_sentences()[:5]))
    inputs = [{"source": "web", "format": "jsonl", "paths": [str(path)]}]
    stages = [{"language": {"keep": ["de"]}}]  # the sentences are English
    for tokenizer in ({"train": {"vocab_size": 600}}, None):
        out = tmp_path / ("trained" if tokenizer else "mixture-only")
        summary = run(job(out, inputs, stages, mixture={}, tokenizer=tokenizer))
        assert summary.errored_stages == {"tokens": NOTHING_TO_TOKENIZE}
        assert summary.report["documents"] == 0 and (out / "report" / "report.json").is_file()
        assert not (out / "tokens").exists() and not (out / "tokenizer").exists()


def test_shards_smaller_than_a_document_make_one_task_per_row_at_most(local_ray, tmp_path, capfd):
    """`shard_tokens: 1` planned a shuffle task per token (60,159 of them for the
    quickstart, 93 s); a row is never split, so there are no more shards than rows."""
    out = tmp_path / "out"
    mixture = {"shard_tokens": 1}
    tokenizer = {"train": {"vocab_size": 600}}
    run(job(out, write_three_sources(tmp_path / "in"), mixture=mixture, tokenizer=tokenizer))
    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    rows, tokens = manifest["train"]["rows"], manifest["train"]["tokens"]
    (planned,) = {int(total) for total in re.findall(r"shuffle \d+/(\d+)", capfd.readouterr().err)}
    assert tokens > 2 * rows and planned == rows and manifest["train"]["shards"] <= rows


def test_weighted_mixture_validation_and_manifest_counted_from_the_shards(local_ray, tmp_path):
    out = tmp_path / "out"
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    mixture = {"weights": weights, "target_tokens": 10_000, "validation": 0.1, "shard_tokens": 2500}
    config = job(
        out,
        write_three_sources(tmp_path / "in"),
        mixture=mixture,
        tokenizer={"train": {"vocab_size": 600}},
    )
    summary = run(config)
    db = duckdb.connect()
    # read by a library that is not ours; the schema is the documented one
    columns = db.sql(f"DESCRIBE SELECT * FROM {shards(out)}").fetchall()
    assert [(c[0], c[1]) for c in columns] == [
        ("id", "VARCHAR"),
        ("copy", "INTEGER"),
        ("source", "VARCHAR"),
        ("input_ids", "INTEGER[]"),
        ("num_tokens", "INTEGER"),
    ]
    by_source = dict(
        db.sql(f"SELECT source, sum(num_tokens) FROM {shards(out)} GROUP BY source").fetchall()
    )
    total = sum(by_source.values())
    for source, weight in weights.items():
        assert abs(by_source[source] / total - weight) < 0.01, (source, by_source)
    train_ids = {row[0] for row in db.sql(f"SELECT DISTINCT id FROM {shards(out)}").fetchall()}
    val_ids = {
        row[0] for row in db.sql(f"SELECT id FROM {shards(out, 'tokens/val/*.parquet')}").fetchall()
    }
    assert val_ids and not val_ids & train_ids
    assert (
        db.sql(
            f"SELECT count(*) FROM {shards(out)} GROUP BY id, copy HAVING count(*) > 1"
        ).fetchall()
        == []
    )
    framed = db.sql(
        f"SELECT bool_and(input_ids[1] = 1 AND input_ids[-1] = 2 AND len(input_ids) = num_tokens) "
        f"FROM {shards(out)}"
    ).fetchall()
    assert framed == [(True,)]

    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    for split, pattern in (("train", "tokens/*.parquet"), ("val", "tokens/val/*.parquet")):
        recount = db.sql(
            f"SELECT parse_filename(filename, false, 'system'), source, count(*), sum(num_tokens) "
            f"FROM read_parquet('{out}/{pattern}', filename=true) GROUP BY ALL"
        ).fetchall()
        assert manifest[split]["rows"] == sum(r[2] for r in recount)
        assert manifest[split]["tokens"] == sum(r[3] for r in recount)
        listed = {
            (Path(s["path"]).name, source, s["rows_by_source"][source], tokens)
            for s in manifest["shards"]
            if s["split"] == split
            for source, tokens in s["tokens_by_source"].items()
        }
        assert listed == set(recount)
    assert manifest["train"]["shards"] == math.ceil(manifest["train"]["tokens"] / 2500)
    verify_checksums(out, train_shards(out) + val_shards(out))  # as the trainer does
    assert manifest["tokenizer"]["sha256"] and manifest["config_sha256"] == config.digest()
    realised = {m["source"]: m for m in manifest["mixture"]}
    assert realised["c"]["downsampled"] > 0 and realised["a"]["copies_added"] > 0
    assert {s: m["requested_tokens"] for s, m in realised.items()} == {
        s: weight * 10_000 for s, weight in weights.items()
    }
    assert mixture_misses(summary.report["tokens"]) == []
    entry = {e["stage"]: e for e in summary.report["funnel"]}["mixture"]
    assert entry["removed"]["downsampled"] == sum(m["downsampled"] for m in realised.values())
    assert entry["counters"]["copies_added"] == sum(m["copies_added"] for m in realised.values())
    assert entry["counters"]["validation_documents"] == len(val_ids)
    assert summary.report["tokens"]["train"]["tokens"] == total

    # another mixture over the same documents, loading the same tokenizer from a file:
    # only the plan and the shuffle run again
    encoded = (out / "_state" / "phases" / "encode.json").read_text()
    saved = tmp_path / "tokenizer.json"
    saved.write_bytes((out / "tokenizer" / "tokenizer.json").read_bytes())
    config = job(
        out,
        three_sources(tmp_path / "in"),
        mixture={**mixture, "weights": None, "target_tokens": None, "epochs": {"a": 3, "c": 0.5}},
        tokenizer={"path": str(saved)},
    )
    summary = run(config)
    assert (out / "_state" / "phases" / "encode.json").read_text() == encoded
    copies = db.sql(
        f"SELECT source, id, list_sort(list(copy)) FROM {shards(out)} GROUP BY ALL"
    ).fetchall()
    a_copies = Counter(tuple(c) for source, _, c in copies if source == "a")
    assert a_copies == {(0, 1, 2): manifest["mixture"][0]["available_documents"]}
    assert {tuple(c) for source, _, c in copies if source != "a"} == {(0,)}
    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    realised = {m["source"]: m for m in manifest["mixture"]}
    assert realised["a"]["copies_added"] == 2 * realised["a"]["available_documents"]
    assert realised["b"]["realised_epochs"] == 1.0
    assert 0.45 < realised["c"]["realised_epochs"] < 0.55


def test_tokenizer_show_prints_the_split(bpe, tmp_path, capsys):
    path = tmp_path / "tokenizer.json"
    bpe.save(str(path))
    assert main(["tokenizer", "show", "Strawberry", "--tokenizer", str(path)]) == 0
    printed = capsys.readouterr().out
    pieces = [bpe.decode([i]) for i in bpe.encode("Strawberry", add_special_tokens=False).ids]
    assert " | ".join(pieces) in printed
    assert main(["tokenizer", "show", "x", "--tokenizer", str(tmp_path / "none.json")]) == 2
    run = tmp_path / "run"  # a run's output folder, as a new user names it
    (run / "tokenizer").mkdir(parents=True)
    bpe.save(str(run / "tokenizer" / "tokenizer.json"))
    capsys.readouterr()
    assert main(["tokenizer", "show", "Strawberry", "--tokenizer", str(run)]) == 0
    assert " | ".join(pieces) in capsys.readouterr().out


def test_tokenizer_show_away_from_the_checkout_asks_for_a_tokenizer(tmp_path, monkeypatch, capsys):
    """From another folder the default config is not there: it said `configs/quickstart.yaml:
    config file not found`, though no config was given."""
    monkeypatch.chdir(tmp_path)
    assert main(["tokenizer", "show", "x"]) == 2
    assert "give --tokenizer (a tokenizer.json or a run's output folder) or --config" in (
        capsys.readouterr().err
    )
    assert main(["tokenizer", "show", "x", "--tokenizer", str(tmp_path)]) == 2
    assert "no tokenizer.json in it or in its tokenizer/ folder" in capsys.readouterr().err
