"""KenLM perplexity: a real `lmplz` model, CCNet's normalisation and scoring, the stage in a run."""

from __future__ import annotations

import gzip
import json
import random
import re
import signal
import subprocess
import time

import numpy as np
import pyarrow as pa
import pytest

from filters.kenlm_model import document_perplexities, kenlm_file, load_kenlm
from filters.language import Language
from filters.lm_text import normalize
from filters.perplexity import Perplexity
from filters.wikitext import paragraphs
from pipeline.cli import main
from pipeline.config import validate_config
from pipeline.schema import ConfigError
from tests.conftest import CLI, ENV, SAMPLE, funnel, job, output_once_ended, read_documents, run

WIKI = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]


@pytest.fixture(scope="module")
def sample_lm(tmp_path_factory):
    """A 3-gram model of the bundled wiki articles, trained by `tokenmill lm train`."""
    model = tmp_path_factory.mktemp("lm") / "sample.binary"
    args = ["lm", "train", "--input", str(SAMPLE / "wiki.jsonl"), "--order", "3"]
    assert main([*args, "--output", str(model)]) == 0
    return model


@pytest.fixture(scope="module")
def wikitext_lm(tmp_path_factory, corpora):
    """A 5-gram model of detokenised wikitext-2-valid, as the issue asks."""
    model = tmp_path_factory.mktemp("lm") / "wikitext.binary"
    valid = corpora / "text" / "wikitext-2-valid.txt"
    args = ["lm", "train", "--input", str(valid), "--wikitext", "--order", "5"]
    assert main([*args, "--output", str(model)]) == 0
    return model


def test_lm_commands_say_in_one_line_what_is_wrong(tmp_path, sample_lm, capsys):
    """Empty inputs, options KenLM refuses (lmplz's own words, not its log and a traceback),
    and a model that is not one."""
    (tmp_path / "blank.txt").write_text("\n \n")
    (tmp_path / "text.txt").write_text("a few words of text\nand some more words\n" * 20)
    train = ["lm", "train", "--input", str(tmp_path / "text.txt"), "--output", "out.binary"]
    refused = {
        ("lm", "train", "--input", str(tmp_path / "blank.txt"), "--output", "out.binary"): (
            2,
            f"config error: --input {tmp_path / 'blank.txt'}: no text to train on in it",
        ),
        (*train, "--memory", "plenty"): (
            1,
            "error: lmplz failed (exit status 1): Failed to parse plenty into a memory size "
            "for the leading number.",
        ),
        (*train, "--order", "3", "--prune", "0", "0", "0", "1"): (
            1,
            "error: lmplz failed (exit status 1): You specified pruning thresholds for orders 1 "
            "through 4 but the model only has order 3",
        ),
        (*train, "--quantize-bits", "8"): (
            2,
            "config error: --quantize-bits: needs --structure trie (probing is not quantised)",
        ),
        ("lm", "cutoffs", "--model", str(tmp_path / "text.txt"), "--input", str(sample_lm)): (
            2,
            f"config error: --model: not a KenLM model (a KenLM binary or an ARPA file): "
            f"{tmp_path / 'text.txt'}",
        ),
    }
    for arguments, (status, error) in refused.items():
        assert main([*arguments, "--output", str(tmp_path / "out")]) == status
        assert " ".join(capsys.readouterr().err.split()) == error
    # KenLM aborts where it cannot allocate, and says so first.
    assert main([*train, "--memory", "1000000G", "--output", str(tmp_path / "out")]) == 1
    assert re.fullmatch(
        r"error: lmplz was stopped by SIGABRT: Cannot allocate memory for \d+ bytes in malloc\n",
        capsys.readouterr().err,
    )
    assert not (tmp_path / "out").exists()


def shuffled_words(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


@pytest.fixture
def wiki_and_scrambled(tmp_path):
    """The bundled wiki articles and a word-shuffled copy of each, as one JSONL input."""
    rng = random.Random(0)
    articles = [json.loads(line) for line in (SAMPLE / "wiki.jsonl").open()]
    scrambled = [{"id": f"{a['id']}-x", "text": shuffled_words(a["text"], rng)} for a in articles]
    path = tmp_path / "mixed.jsonl"
    records = [{"id": a["id"], "text": a["text"]} for a in articles] + scrambled
    path.write_text("".join(json.dumps({**r, "language": "en"}) + "\n" for r in records))
    return path


def median_perplexity(model, texts: list[str]) -> float:
    return float(np.nanmedian(document_perplexities(str(model), pa.array(texts, pa.string()))))


@pytest.mark.slow
def test_a_killed_lm_train_stops_lmplz_and_leaves_no_temporary_files(tmp_path):
    """SIGTERM (`kill`) ended the command alone: its temporary folder, with the corpus copy
    and the ARPA file lmplz was writing, stayed behind."""
    rng = random.Random(0)
    words = ["".join(rng.choices("abcdefghij", k=rng.randint(2, 9))) for _ in range(50_000)]
    text = tmp_path / "text.txt"
    text.write_text("".join(" ".join(rng.choices(words, k=12)) + "\n" for _ in range(200_000)))
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    command = subprocess.Popen(
        [*CLI, "lm", "train", "--input", str(text), "--output", str(tmp_path / "m.binary")],
        env={**ENV, "TMPDIR": str(temporary)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    while not list(temporary.glob("tokenmill-lm-*/model.arpa")):  # lmplz is starting
        assert command.poll() is None, command.stderr.read()[-2000:]
        time.sleep(0.05)
    command.send_signal(signal.SIGTERM)
    _, stderr = output_once_ended(command, 60)
    assert command.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted: rerun the same command to resume")
    assert list(temporary.iterdir()) == []


def test_normalisation_folds_case_digits_accents_and_punctuation():
    lines = pa.array(["Café, 1984 — “quoted”…", "TAB\tand  spaces", None])
    assert normalize(lines).to_pylist() == [
        'cafe , 0000 - " quoted " . . .',
        "tab and spaces",
        None,
    ]


def test_scoring_normalises_as_training_did(sample_lm):
    texts = pa.array(["The Lighthouse, built in 1890.", "the lighthouse , built in 0000 ."])
    first, second = document_perplexities(str(sample_lm), texts).to_pylist()
    assert first == second and first > 1


def test_document_perplexity_is_length_weighted_over_paragraphs(sample_lm):
    model = load_kenlm(str(sample_lm))
    short, long = "a lighthouse", "a tower that carries a light to guide ships at sea"
    perplexity = document_perplexities(str(sample_lm), pa.array([f"{short}\n\n{long}", "", None]))
    log10 = model.score(short) + model.score(long)
    tokens = len(short.split()) + 1 + len(long.split()) + 1
    assert perplexity[0].as_py() == pytest.approx(round(10 ** (-log10 / tokens), 1), abs=0.11)
    assert perplexity.to_pylist()[1:] == [None, None]  # no words: no perplexity
    assert load_kenlm(str(sample_lm)) is model  # loaded once per process


def rule_rejected_english_pages(pages: pa.Table) -> list[str]:
    """English trafilatura pages (lid.176) that the `quality` stage's published rules reject."""
    from pipeline.stage_registry import STAGE_TYPES

    quality = STAGE_TYPES["quality"]
    labelled = Language(Language.Params()).process(pages.select(["id", "text"])).table
    english = labelled.filter(pa.compute.equal(labelled["language"], "en"))
    verdict = quality(quality.Params.model_validate({})).process(english)
    return english.filter(verdict.removed.is_valid())["text"].to_pylist()


def test_wikitext_model_prefers_held_out_wikipedia(wikitext_lm, corpora, trafilatura_pages):
    held_out = paragraphs(corpora / "text" / "wikitext-2-test.txt")
    rng = random.Random(0)
    shuffled = [shuffled_words(text, rng) for text in held_out]
    rejected = rule_rejected_english_pages(trafilatura_pages)
    ours = median_perplexity(wikitext_lm, held_out)
    scrambled = median_perplexity(wikitext_lm, shuffled)
    rejected_median = median_perplexity(wikitext_lm, rejected)
    print(
        f"median perplexity: wikitext-2-test {ours:.1f} ({len(held_out)} paragraphs), "
        f"its shuffled words {scrambled:.1f}, "
        f"rule-rejected English pages {rejected_median:.1f} ({len(rejected)})"
    )
    assert len(held_out) > 1500 and len(rejected) >= 20
    assert ours < scrambled and ours < rejected_median


def test_spearman_with_ccnet_perplexities(wikitext_lm, corpora):
    from scipy.stats import spearmanr

    documents = []
    for path in sorted((corpora / "text").glob("ccnet-*.jsonl.gz")):
        with gzip.open(path, "rt") as lines:
            documents += [json.loads(line) for line in lines]
    texts = pa.array([doc["text"] for doc in documents], pa.string())
    ours = document_perplexities(str(wikitext_lm), texts).to_numpy(zero_copy_only=False)
    theirs = [doc["metadata"]["perplexity"] for doc in documents]
    correlation = spearmanr(ours, theirs).statistic
    print(f"Spearman ρ with CCNet on {len(documents)} documents: {correlation:.3f}")
    assert len(documents) == 20 and not np.isnan(ours).any()


def test_stage_drops_above_max_perplexity(sample_lm):
    texts = ["A lighthouse is a tower.", "zzq xxv qqw vvk", ""]
    stage = Perplexity(Perplexity.Params(model=str(sample_lm), max_perplexity=1000))
    verdict = stage.process(pa.table({"text": texts}))
    low, high, empty = verdict.table["perplexity"].to_pylist()
    assert low < 1000 < high and empty is None
    assert verdict.removed.to_pylist() == [None, "perplexity_high", None]


def test_stage_keeps_buckets_by_language_cutoffs(sample_lm, wiki_and_scrambled, tmp_path):
    cutoffs = tmp_path / "cutoffs.json"
    args = ["lm", "cutoffs", "--model", str(sample_lm), "--input", str(wiki_and_scrambled)]
    assert main([*args, "--output", str(cutoffs)]) == 0
    found = json.loads(cutoffs.read_text())["cutoffs"]
    assert set(found) == {"*", "en"} and 1 < found["en"][0] < found["en"][1]
    article = json.loads((SAMPLE / "wiki.jsonl").open().readline())["text"]
    table = pa.table(
        {
            "text": [article, shuffled_words(article, random.Random(1)), "zzq xxv qqw vvk"],
            "language": ["en", "xx", None],  # unknown and absent languages use the pooled cutoffs
        }
    )
    params = Perplexity.Params(model=str(sample_lm), cutoffs=str(cutoffs), keep=["head", "middle"])
    verdict = Perplexity(params).process(table)
    assert verdict.table["perplexity_bucket"].to_pylist() == ["head", "tail", "tail"]
    assert verdict.removed.to_pylist() == [None, "perplexity_tail", "perplexity_tail"]


def test_config_names_the_bad_key(sample_lm, tmp_path):
    (tmp_path / "lm.bin").write_bytes(b"\x00" * 64)
    whole = sample_lm.read_bytes()
    (tmp_path / "cut.binary").write_bytes(whole[: len(whole) // 2])  # a download cut short
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\n\\data\\\nngram 1=3\n")  # ARPA text, as lmplz writes it, is a model too
    assert kenlm_file(str(arpa)) == str(arpa) and kenlm_file(str(sample_lm)) == str(sample_lm)
    for params, key in [
        ({"model": str(tmp_path / "missing.binary")}, "stages.perplexity.model"),
        ({"model": str(tmp_path / "lm.bin")}, "stages.perplexity.model: not a KenLM model"),
        (
            {"model": str(tmp_path / "cut.binary")},
            "stages.perplexity.model: not a whole KenLM binary: .*: Binary file has size",
        ),
        ({"model": str(sample_lm), "max_perplexity": -1}, "stages.perplexity.max_perplexity"),
        ({"model": str(sample_lm), "keep": ["head"]}, "stages.perplexity"),
        ({"model": str(sample_lm), "keep": ["top"]}, "stages.perplexity.keep"),
    ]:
        with pytest.raises(ConfigError, match=key):
            validate_config(
                {"name": "t", "output": "o", "inputs": WIKI, "stages": [{"perplexity": params}]}
            )
    for text, error in (("{", "JSONDecodeError"), ('{"cutoffs": {"*": 5}}', "TypeError")):
        cutoffs = tmp_path / "cutoffs.json"
        cutoffs.write_text(text)
        params = {"model": str(sample_lm), "cutoffs": str(cutoffs), "keep": ["head"]}
        message = f"stages.perplexity: {cutoffs}: not the cutoffs `tokenmill lm cutoffs` writes"
        with pytest.raises(ConfigError, match=re.escape(f"{message} ({error}")):
            validate_config(
                {"name": "t", "output": "o", "inputs": WIKI, "stages": [{"perplexity": params}]}
            )


def test_perplexity_stage_in_a_run(local_ray, sample_lm, wiki_and_scrambled, tmp_path):
    inputs = [{"source": "wiki", "format": "jsonl", "paths": [str(wiki_and_scrambled)]}]
    stages = [{"perplexity": {"model": str(sample_lm), "max_perplexity": 40}}]
    summary = run(job(tmp_path / "out", inputs, stages, keep_removed=True))
    kept, removed = read_documents(tmp_path / "out"), read_documents(tmp_path / "out", "removed")
    counts = funnel(summary)["perplexity"]
    assert len(kept) == len(removed) == counts["kept"] == counts["removed"]["perplexity_high"]
    assert not any(doc["source_id"].endswith("-x") for doc in kept)
    assert all(doc["perplexity"] <= 40 for doc in kept)
    assert all(doc["reason"] == "perplexity_high" and doc["perplexity"] > 40 for doc in removed)
