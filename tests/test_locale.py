"""tokenmill in a locale whose encoding is not UTF-8 (ISO-8859-1, still found on older
servers): Python opens text files in the locale's encoding unless told otherwise, and the
files tokenmill reads and writes are UTF-8 whatever the locale."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from tests.conftest import CLI, ENV

LOCALE = "en_US.ISO-8859-1"
TEXTS = [
    "Η Ελλάδα είναι χώρα της νοτιοανατολικής Ευρώπης με μακρά ιστορία και πολιτισμό.",
    "Москва — столица России, крупнейший по численности населения город страны.",
    "東京は日本の首都であり、世界有数の大都市である。人口は約千四百万人である。",
    "Die Größe des Gartens überrascht Besucher, die zum ersten Mal hierherkommen.",
]


@pytest.fixture(scope="module")
def latin1(tmp_path_factory) -> dict[str, str]:
    """The environment of a process in an ISO-8859-1 locale, built with localedef from the
    `locales` package's sources (`make test` installs it)."""
    assert shutil.which("localedef"), "no localedef: `make test` installs the locales package"
    folder = tmp_path_factory.mktemp("locales")
    built = subprocess.run(
        ["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(folder / LOCALE)],
        capture_output=True,
        text=True,
    )
    # localedef exits 1 on warnings about its sources and still builds the locale
    assert (folder / LOCALE).is_dir(), f"localedef built no {LOCALE}: {built.stderr}"
    env = {**ENV, "LOCPATH": str(folder), "LANG": LOCALE, "LC_ALL": LOCALE}
    probe = [sys.executable, "-c", "import locale; print(locale.getpreferredencoding())"]
    assert subprocess.run(probe, env=env, capture_output=True, text=True).stdout.strip() == (
        "ISO-8859-1"
    )
    return env


def tokenmill(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, timeout=300)


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")
    return path


def test_a_classifier_trains_on_text_the_locale_cannot_spell(latin1, tmp_path):
    """Its fastText corpus was written in the locale's encoding: UnicodeEncodeError."""
    positive = write_jsonl(tmp_path / "hq.jsonl", [f"{t} {n}" for t in TEXTS for n in range(10)])
    negative = write_jsonl(tmp_path / "cc.jsonl", [f"κλικ εδώ, купить {n}" for n in range(40)])
    model = tmp_path / "quality.bin"
    done = tokenmill(
        [
            "classifier",
            "train",
            "--positive",
            str(positive),
            "--negative",
            str(negative),
            "--output",
            str(model),
        ],
        latin1,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert model.stat().st_size > 0


@pytest.mark.slow
def test_token_shards_decode_to_the_documents_with_the_runs_tokenizer(latin1, tmp_path):
    """The tokens phase read OUT/tokenizer/tokenizer.json in the locale's encoding: every
    token of the byte-level vocabulary past ASCII came out another string, and the shards
    held ids of that mangled tokenizer."""
    texts = [f"{text} ({n})" for n in range(30) for text in TEXTS]
    config = {
        "name": "latin1",
        "output": str(tmp_path / "out"),
        "inputs": [
            {
                "source": "mixed",
                "format": "jsonl",
                "paths": [str(write_jsonl(tmp_path / "in.jsonl", texts))],
            }
        ],
        "tokenizer": {"train": {"vocab_size": 512}},
        "mixture": {"weights": {"mixed": 1.0}, "validation": 0.0},
    }
    (tmp_path / "job.yaml").write_text(json.dumps(config), encoding="utf-8")
    done = tokenmill(["run", str(tmp_path / "job.yaml")], latin1)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    tokenizer = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer" / "tokenizer.json"))
    shards = sorted((tmp_path / "out" / "tokens").glob("train-*.parquet"))
    rows = [ids for shard in shards for ids in pq.read_table(shard).column("input_ids").to_pylist()]
    decoded = {tokenizer.decode(ids) for ids in rows}
    assert decoded == set(texts)
