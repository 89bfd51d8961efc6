"""fastText quality classifier: DCLM-style training, held-out quality, the stage in a run."""

from __future__ import annotations

import gzip
import json
import os
import random

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from filters.classifier import Classifier
from filters.classifier_training import FastTextParams, evaluate, train_classifier
from filters.fasttext_model import load_model
from filters.training_text import read_examples
from filters.wikitext import paragraphs
from pipeline.cli import main
from pipeline.config import validate_config
from pipeline.schema import ConfigError
from support.extracted_pages import extracted_pages
from tests.conftest import SAMPLE, funnel, job, read_documents, run

WIKI = [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}]


@pytest.fixture(scope="module")
def sample_pages() -> list[str]:
    """Text of the bundled sample crawl's pages, through the `extract` stage."""
    warcs = sorted(SAMPLE.glob("web-*.warc.gz"))
    return [
        text for warc in warcs for text in extracted_pages(warc, "resiliparse")["text"].to_pylist()
    ]


@pytest.fixture(scope="module")
def sample_classifier(tmp_path_factory, sample_pages):
    """Bundled wiki articles (`hq`) against the bundled web pages (`cc`), via the CLI."""
    folder = tmp_path_factory.mktemp("classifier")
    (folder / "cc.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sample_pages))
    model = folder / "quality.bin"
    args = ["classifier", "train", "--positive", str(SAMPLE / "wiki.jsonl")]
    args += ["--negative", str(folder / "cc.jsonl"), "--output", str(model)]
    args += ["--dim", "16", "--bucket", "100000", "--epoch", "50", "--lr", "0.5"]
    assert main(args) == 0
    return model


def test_training_text_reads_long_lines_and_names_a_file_it_cannot_read(tmp_path, capsys):
    long = tmp_path / "long.jsonl"
    texts = ["word " * 500_000, "short"]  # 2.5 MB: more than pyarrow's first parsing block
    long.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    assert read_examples([str(long)])["text"].to_pylist() == texts
    whole_zstd = zstandard.ZstdCompressor().compress(long.read_bytes())
    unreadable = {
        "pages.csv": (b"text\n", "expected .txt, .jsonl, .json or .parquet"),
        "fields.jsonl": (b'{"body": "a"}\n', "records have no `text` field"),
        "broken.jsonl": (b'{"text": "a"}\nnot json\n', "cannot be read (JSON parse error"),
        "latin1.txt": (b"caf\xe9\n", "not UTF-8 text (invalid continuation byte)"),
        "fake.parquet": (b"not parquet", "cannot be read (Could not open Parquet input"),
        "cut.jsonl.gz": (gzip.compress(b'{"text": "a"}\n' * 99)[:30], "cannot be read (EOFError"),
        "block.txt.gz": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\xff", "cannot be read ("),
        "cut.jsonl.zst": (whole_zstd[: len(whole_zstd) // 2], "cannot be read (EOFError"),
        "cut.txt.zst": (whole_zstd[: len(whole_zstd) // 2], "cannot be read (EOFError"),
    }
    for name, (content, error) in unreadable.items():
        (tmp_path / name).write_bytes(content)
        args = ["classifier", "train", "--positive", str(tmp_path / name)]
        args += ["--negative", str(long), "--output", str(tmp_path / "model.bin")]
        assert main(args) == 2
        printed = " ".join(capsys.readouterr().err.split())
        assert printed.startswith(f"config error: {tmp_path / name}: {error}"), printed
    fifo = tmp_path / "pages.txt"
    os.mkfifo(fifo)
    for path, found in [
        (tmp_path, "a folder"),
        (fifo, "not a regular file"),
        ("no.txt", "not found"),
    ]:
        args = ["classifier", "train", "--positive", str(path), "--negative", str(long)]
        assert main([*args, "--output", str(tmp_path / "m.bin")]) == 2
        assert capsys.readouterr().err.strip() == (  # each was `input not found`
            f"config error: {path}: {found}; give files of examples"
        )
    url = "https://x.example/pages.jsonl"  # was `input not found`
    args = ["classifier", "train", "--positive", url, "--negative", str(long)]
    assert main([*args, "--output", str(tmp_path / "m.bin")]) == 2
    assert capsys.readouterr().err.startswith(
        f"config error: {url}: the models train on local files"
    )


def test_wikitext_and_text_lines_are_read_compressed(corpora, tmp_path):
    """`--wikitext` read a .txt.gz as bytes: `not UTF-8 text (invalid start byte)`."""
    text = (corpora / "text" / "wikitext-2-valid.txt").read_bytes()
    (tmp_path / "wiki.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "wiki.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    (tmp_path / "wiki.txt").write_bytes(text)
    for wikitext in (True, False):
        expected = read_examples([str(tmp_path / "wiki.txt")], wikitext=wikitext)
        assert expected.num_rows > 1000
        for name in ("wiki.txt.gz", "wiki.txt.zst"):
            assert read_examples([str(tmp_path / name)], wikitext=wikitext).equals(expected)


def test_a_byte_order_mark_opening_a_text_file_is_not_text(tmp_path):
    """Windows tools save "UTF-8 with BOM": the mark was the first line's first character,
    and it hid a WikiText file's first heading."""
    text = " = Alpha = \n\n The alpha body , one . \n\n = Beta = \n\n The beta body . \n"
    (tmp_path / "plain.txt").write_text(text, encoding="utf-8")
    (tmp_path / "marked.txt").write_text(text, encoding="utf-8-sig")
    for wikitext in (True, False):
        plain = read_examples([str(tmp_path / "plain.txt")], wikitext=wikitext)
        assert plain.num_rows >= 2
        assert read_examples([str(tmp_path / "marked.txt")], wikitext=wikitext).equals(plain)


def test_classifier_training_says_in_one_line_what_is_wrong(tmp_path, capsys):
    """Nothing to train on, fastText options it cannot train with, and a training that fails
    (fastText's own words, not a traceback) or keeps no word (a huge --minCount gave a model
    that scored every text alike); measures the held-out set leaves undefined are
    null, not NaN (which is not JSON)."""
    (tmp_path / "blank.txt").write_text("\n  \n")
    (tmp_path / "hq.txt").write_text("".join(f"a well written article {i}\n" for i in range(5)))
    (tmp_path / "cc.txt").write_text("".join(f"buy now cheap deal {i}\n" for i in range(40)))
    model = ["--output", str(tmp_path / "model.bin")]
    hq_cc = ["--positive", str(tmp_path / "hq.txt"), "--negative", str(tmp_path / "cc.txt")]
    refused = {
        ("--positive", str(tmp_path / "blank.txt"), "--negative", str(tmp_path / "cc.txt")): (
            2,
            f"config error: --positive {tmp_path / 'blank.txt'}: no text to train on in it",
        ),
        (*hq_cc, "--dim", "0", "--lr", "0"): (
            2,
            "config error: --lr: Input should be greater than 0; --dim: Input should be greater "
            "than 0",
        ),
        (*hq_cc, "--bucket", "0"): (
            2,
            "config error: --bucket 0 leaves word n-grams nowhere to go: set wordNgrams 1",
        ),
        (*hq_cc, "--lr", "1e30"): (
            1,
            "error: fastText training failed (exit status 1): RuntimeError: Encountered NaN.",
        ),
        (*hq_cc, "--minCount", "1000"): (
            1,
            "error: fastText training failed (exit status 1): no word occurs --minCount 1000 "
            "times in the training examples, so the model has none to tell them apart by",
        ),
    }
    for arguments, (status, error) in refused.items():
        assert main(["classifier", "train", *arguments, *model]) == status
        assert " ".join(capsys.readouterr().err.split()) == error
    assert not (tmp_path / "model.bin").exists()
    assert main(["classifier", "train", *hq_cc, *model, "--valid-fraction", "0.03"]) == 0
    held_out = json.loads(capsys.readouterr().out)["held_out"]
    assert held_out["examples"] == 1 and held_out["roc_auc"] is None  # one example: one kind
    with pytest.raises(ConfigError, match=r"^no positive example to train on"):
        train_classifier([" "], ["c"] * 20, tmp_path / "other.bin")


def test_classifier_tells_wikipedia_from_web_pages(corpora, trafilatura_pages, tmp_path):
    """Positives: detokenised wikitext-2-valid; negatives: a random half of the pages.
    Judged on wikitext-2-test paragraphs and the other half of the pages."""
    pages = [text for text in trafilatura_pages.column("text").to_pylist() if text.strip()]
    random.Random(0).shuffle(pages)
    seen, unseen = pages[: len(pages) // 2], pages[len(pages) // 2 :]
    model = tmp_path / "quality.bin"
    positives = paragraphs(corpora / "text" / "wikitext-2-valid.txt")
    held_out = train_classifier(positives, seen, model, FastTextParams(bucket=200_000))
    print(f"held-out split of the training data: {held_out}")
    result = evaluate(model, paragraphs(corpora / "text" / "wikitext-2-test.txt"), unseen)
    print(
        f"unseen: {result.examples} examples, ROC AUC {result.roc_auc:.3f}, "
        f"precision {result.precision:.3f}, recall {result.recall:.3f} at 0.5"
    )
    assert result.examples > 2000 and result.roc_auc >= 0.9


def test_stage_keeps_above_min_score(sample_classifier, sample_pages):
    article = json.loads((SAMPLE / "wiki.jsonl").open().readline())["text"]
    table = pa.table({"text": [article, sample_pages[0], "", None]})
    verdict = Classifier(Classifier.Params(model=str(sample_classifier), min_score=0.5)).process(
        table
    )
    scores = verdict.table["quality_score"].to_pylist()
    assert scores[0] > 0.5 > scores[1]
    assert verdict.removed.to_pylist() == [None, *["quality_score_low"] * 3]
    assert scores[2:] == [0.0, 0.0]  # no words, no score


def test_stage_keeps_the_top_fraction(sample_classifier):
    texts = [json.loads(line)["text"] for line in (SAMPLE / "wiki.jsonl").open()]
    table = pa.table({"text": texts})
    params = Classifier.Params(model=str(sample_classifier), keep_fraction=0.25)
    verdict = Classifier(params).process(table)
    kept = verdict.removed.is_null().to_numpy(zero_copy_only=False)
    scores = verdict.table["quality_score"].to_numpy()
    assert kept.sum() == 10 and scores[kept].min() > scores[~kept].max()
    assert (
        Classifier(Classifier.Params(model=str(sample_classifier))).process(table).removed is None
    )


def test_config_names_the_bad_key(sample_classifier, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 a torch checkpoint, say")
    cut = tmp_path / "cut.bin"  # its load would never end (see tests/test_fasttext_model.py)
    cut.write_bytes(sample_classifier.read_bytes()[:500])
    for params, key in [
        ({"model": str(tmp_path / "missing.bin")}, "stages.classifier.model"),
        ({"model": str(tmp_path / "model.pt")}, "stages.classifier.model: not a fastText model"),
        ({"model": str(cut)}, f"stages.classifier.model: not a whole fastText model: {cut}: it"),
        ({"model": str(sample_classifier), "min_score": 2}, "stages.classifier.min_score"),
        ({"model": str(sample_classifier), "min_score": 0.5, "keep_fraction": 0.1}, "classifier"),
    ]:
        with pytest.raises(ConfigError, match=key):
            validate_config(
                {"name": "t", "output": "o", "inputs": WIKI, "stages": [{"classifier": params}]}
            )


def test_classifier_stage_in_a_run(local_ray, sample_classifier, tmp_path):
    stages = [{"classifier": {"model": str(sample_classifier), "min_score": 0.5}}]
    summary = run(job(tmp_path / "out", WIKI, stages))
    documents = read_documents(tmp_path / "out")
    assert len(documents) == funnel(summary)["classifier"]["kept"] == 40
    assert np.all(np.array([doc["quality_score"] for doc in documents]) > 0.5)
    assert load_model(str(sample_classifier)).path.name == "quality.bin"
