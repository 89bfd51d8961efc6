"""fastText quality classifier: DCLM-style training, held-out quality, the stage in a run."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

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
    unreadable = {
        "pages.csv": (b"text\n", "expected .txt, .jsonl, .json or .parquet"),
        "fields.jsonl": (b'{"body": "a"}\n', "records have no `text` field"),
        "broken.jsonl": (b'{"text": "a"}\nnot json\n', "cannot be read (JSON parse error"),
        "latin1.txt": (b"caf\xe9\n", "not UTF-8 text (invalid continuation byte)"),
        "fake.parquet": (b"not parquet", "cannot be read (Could not open Parquet input"),
    }
    for name, (content, error) in unreadable.items():
        (tmp_path / name).write_bytes(content)
        args = ["classifier", "train", "--positive", str(tmp_path / name)]
        args += ["--negative", str(long), "--output", str(tmp_path / "model.bin")]
        assert main(args) == 2
        printed = " ".join(capsys.readouterr().err.split())
        assert printed.startswith(f"config error: {tmp_path / name}: {error}"), printed


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
