import gzip
import json
import random
import re
import zipfile

import pyarrow as pa
import pytest

from filters.decontaminate import Decontaminate, normalised_words
from pipeline.config import validate_config
from pipeline.schema import ConfigError


def stage(path, fields=("question",), **params) -> Decontaminate:
    reference = {"name": "gsm8k", "paths": [str(path)], "fields": list(fields)}
    return Decontaminate(Decontaminate.Params(references=[reference], **params))


def questions(path, count: int, seed: int) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in random.Random(seed).sample(lines, count)]


def disguise(question: str, rng: random.Random) -> str:
    """The same words with other case, spacing and punctuation."""
    words = re.findall(r"\w+", question)
    return " ".join(
        rng.choice([w.upper(), w.lower(), w.title()]) + rng.choice(["", ",", " -", ";", "  \n"])
        for w in words
    )


def window(question: str, n: int, rng: random.Random) -> str:
    words = question.split()
    start = rng.randrange(len(words) - n + 1)
    return " ".join(words[start : start + n])


def test_gsm8k_test_questions_are_removed_and_train_questions_survive(corpora):
    test_set = corpora / "posttrain" / "gsm8k-test.jsonl"
    test_questions = [q for q in questions(test_set, 120, seed=1) if len(q.split()) >= 16]
    train_questions = questions(corpora / "posttrain" / "gsm8k-train.jsonl", 300, seed=2)
    rng = random.Random(3)
    intro, outro = "Homework help forum. Posted by a parent:", "Any ideas? Thanks in advance."
    leaked = (
        [f"{intro} {q} {outro}" for q in test_questions]
        + [f"{intro} {disguise(q, rng)} {outro}" for q in test_questions]
        + [f"{intro} ... {window(q, 13, rng)} ... {outro}" for q in test_questions]
    )
    clean = [f"{intro} {q} {outro}" for q in train_questions]
    texts = leaked + clean
    verdict = stage(test_set).process(
        pa.table({"id": list(map(str, range(len(texts)))), "text": texts})
    )
    removed = verdict.removed.to_pylist()
    survivors = [t for t, r in zip(leaked, removed, strict=False) if r is None]
    false_hits = [t for t, r in zip(clean, removed[len(leaked) :], strict=True) if r is not None]
    print(
        f"\nleaked removed: {len(leaked) - len(survivors)}/{len(leaked)}; train removed: {len(false_hits)}/{len(clean)}"
    )
    assert survivors == []
    assert false_hits == []
    assert verdict.counters == {"benchmark.gsm8k": len(leaked)}
    assert set(verdict.table.column("contamination").to_pylist()) == {"gsm8k", None}


def test_normalisation_ignores_case_spacing_and_punctuation():
    words = normalised_words(pa.array(["Janet’s DUCKS lay 16 eggs... per-day!", None]))
    assert words.to_pylist()[0] == ["janet", "s", "ducks", "lay", "16", "eggs", "per", "day"]


def test_mark_keeps_documents_and_reads_parquet_and_several_fields(tmp_path):
    import pyarrow.parquet as pq

    item = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    pq.write_table(
        pa.table(
            {
                "prompt": [item],
                "answer": ["forty two is the answer to it all, said the computer deep thought"],
            }
        ),
        tmp_path / "eval.parquet",
    )
    reference = {
        "name": "toy",
        "paths": [str(tmp_path / "*.parquet")],
        "fields": ["prompt", "answer"],
    }
    marked = Decontaminate(Decontaminate.Params(references=[reference], ngram=8, action="mark"))
    texts = [
        f"Yesterday {item.upper()}.",
        "Forty-two is the answer to it all, said the computer.",
        "Unrelated.",
        None,
    ]
    verdict = marked.process(pa.table({"id": ["a", "b", "c", "d"], "text": texts}))
    assert verdict.removed is None
    assert verdict.table.column("contamination").to_pylist() == ["toy", "toy", None, None]
    assert verdict.counters == {"benchmark.toy": 2}


def test_a_missing_field_or_file_is_named(tmp_path):
    (tmp_path / "eval.jsonl").write_text('{"question": "x"}\n')
    with pytest.raises(ValueError, match=r"eval.jsonl has no field 'prompt'"):
        stage(tmp_path / "eval.jsonl", fields=["prompt"])
    with pytest.raises(ValueError, match=r"references.gsm8k: no files match"):
        stage(tmp_path / "missing-*.jsonl")
    inputs = [{"source": "s", "format": "text", "paths": ["p"]}]
    with pytest.raises(ConfigError, match=r"stages.decontaminate.references"):
        validate_config({"name": "x", "output": "o", "inputs": inputs, "stages": ["decontaminate"]})
    long = tmp_path / "long.jsonl"  # a line past pyarrow's first parsing block is read
    long.write_text(json.dumps({"question": "word " * 400_000}) + "\n")
    assert len(stage(long, fields=["question"]).vocabulary) == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "x"}\nnot json\n')
    # A cut gzip was a traceback (EOFError); of a zip of two files the first alone was read.
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"question": "x"}\n' * 100)[:30])
    two = tmp_path / "two.jsonl.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.jsonl", '{"question": "x"}\n')
        archive.writestr("b.jsonl", '{"question": "y"}\n')
    for path, error in (
        (broken, "cannot be read (JSON parse error"),
        (long, "has no field"),
        (cut, "cannot be read (Compressed file ended before the end-of-stream marker"),
        (two, "cannot be read (a zip archive of 2 files, of which only the first would be read"),
    ):
        reference = {"name": "qs", "paths": [str(path)], "fields": ["answer"]}
        decontaminate = {"decontaminate": {"references": [reference]}}
        with pytest.raises(ConfigError, match=re.escape(f"references.qs: {path}")) as raised:
            validate_config(
                {"name": "x", "output": "o", "inputs": inputs, "stages": [decontaminate]}
            )
        assert error in str(raised.value)


def test_a_reference_too_short_for_any_ngram_is_named(tmp_path):
    """Questions of a few words under 13-grams: the stage was valid and matched nothing."""
    path = tmp_path / "arith.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"What is {n} plus {n}?"}) + "\n" for n in range(9))
    )
    with pytest.raises(
        ValueError, match=r"references.gsm8k: no item has 13 words \(the longest has 5\)"
    ):
        stage(path)
    assert stage(path, ngram=5).references["gsm8k"].size == 9


def test_after_a_global_phase_in_a_run(local_ray, tmp_path):
    from tests.conftest import ROOT, SAMPLE, funnel, job, read_documents, run

    reference = {
        "name": "qs",
        "paths": [str(ROOT / "data/eval/quickstart-eval.jsonl")],
        "fields": ["question"],
    }
    config = job(
        tmp_path,
        [{"source": "wiki", "format": "jsonl", "paths": [str(SAMPLE / "wiki.jsonl")]}],
        stages=[
            {"dedup": {"exact": True, "minhash": {"threshold": 0.8}}},
            {"pii": {}},
            {"decontaminate": {"references": [reference]}},
        ],
    )
    summary = run(config)
    assert funnel(summary)["decontaminate"]["counters"] == {"benchmark.qs": 1}
    assert funnel(summary)["decontaminate"]["removed"] == {"contaminated": 1}
    assert "Lighthouse" not in {doc["text"].split("\n")[0] for doc in read_documents(tmp_path)}
