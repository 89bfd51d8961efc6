"""KenLM n-gram models: trained with `lmplz` and `build_binary`, queried through `kenlm`.

Training writes the normalised paragraphs (filters.lm_text) one per line, runs the real
`lmplz` (built from the kenlm source distribution by `make install` into the virtualenv's
bin/) and converts the ARPA file to KenLM's binary format. Scoring follows CCNet's DocLM:
each paragraph (line) is scored with sentence boundaries, and a document's perplexity is
10^(-Σ log10 p / Σ (words + 1)) over its paragraphs, so long paragraphs weigh more.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

import fsspec
import kenlm
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.child_process import run_child
from filters.lm_text import normalize, word_counts
from pipeline.schema import ConfigError

KENLM_BINARY_MAGIC = b"mmap lm http://kheafield.com/code"
ARPA_START = b"\\data\\"
GZIP_MAGIC = b"\x1f\x8b"


def kenlm_file(path: str) -> str:
    """`path` when its file starts as a KenLM binary, an ARPA file or a gzipped one does, and
    a binary is as long as its header says; ValueError otherwise. A config check, in a
    millisecond before the run, rather than every document erroring in it."""
    with fsspec.open(path, "rb") as handle:
        head = handle.read(len(KENLM_BINARY_MAGIC))
    if not (
        head.startswith((KENLM_BINARY_MAGIC, GZIP_MAGIC)) or head.lstrip().startswith(ARPA_START)
    ):
        raise ValueError(f"not a KenLM model (a KenLM binary or an ARPA file): {path}")
    if head.startswith(KENLM_BINARY_MAGIC) and Path(path).is_file():
        _check_binary_size(path)
    return path


def _check_binary_size(path: str) -> None:
    """KenLM maps a binary lazily, reading its header only, and compares the file's size
    with it: a cut file fails here. (An ARPA file would be parsed whole.)"""
    config = kenlm.Config()
    config.load_method = kenlm.LoadMethod.LAZY
    try:
        kenlm.Model(path, config)
    except OSError as err:  # KenLM's reason follows the line of source that threw
        reason = str(err).rsplit("'. ", 1)[-1].rstrip(")")
        raise ValueError(f"not a whole KenLM binary: {path}: {reason}") from None


def kenlm_tool(name: str) -> str:
    """Path of a KenLM program: beside this Python first (the virtualenv), then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found beside {sys.executable} or on PATH: run `make install`"
        )
    return found


def train_kenlm(
    paragraphs: Iterable[str],
    output: str | Path,
    order: int = 5,
    memory: str = "20%",
    structure: Literal["probing", "trie"] = "probing",
    quantize_bits: int | None = None,
    prune: list[int] | None = None,
) -> Path:
    """Train an `order`-gram model on `paragraphs` and write it in binary form to `output`.

    `structure="trie"` with `quantize_bits` (e.g. 8) gives a far smaller file than the
    default probing hash table, which is the fastest to query. `prune` (lmplz's thresholds
    per order, e.g. `[0, 0, 1]`) drops rare n-grams, for a smaller model.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tokenmill-lm-") as work:
        corpus, arpa = Path(work) / "corpus.txt", Path(work) / "model.arpa"
        lines = normalize(pa.array(list(paragraphs), pa.string()))
        lines = pc.filter(lines, pc.not_equal(lines, ""))
        if len(lines) == 0:
            raise ConfigError("no words to train a language model on (the text normalises away)")
        corpus.write_text("\n".join(lines.to_pylist()) + "\n", encoding="utf-8")
        lmplz = [kenlm_tool("lmplz"), "-o", str(order), "-S", memory, "-T", work]
        lmplz += ["--discount_fallback", *(["--prune", *map(str, prune)] if prune else [])]
        with corpus.open("rb") as text, arpa.open("wb") as model:
            run_child(lmplz, "lmplz", stdin=text, stdout=model)
        quantize = ["-q", str(quantize_bits), "-b", str(quantize_bits)] if quantize_bits else []
        layout = ["trie", *quantize] if structure == "trie" else ["probing"]
        binary = Path(work) / "model.binary"
        run_child(
            [kenlm_tool("build_binary"), "-s", *layout, str(arpa), str(binary)], "build_binary"
        )
        shutil.move(binary, output)  # complete or absent, never half-written
    return output


@cache
def load_kenlm(path: str) -> kenlm.Model:
    """The model at `path`, loaded once per process (each Ray worker loads its own copy)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"KenLM model not found: {path}")
    return kenlm.Model(path)


def document_perplexities(model_path: str, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """CCNet's length-weighted document perplexity of each text; null where it has no words."""
    model = load_kenlm(model_path)
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    lines = pc.split_pattern(pc.fill_null(texts, ""), "\n")
    document = pc.list_parent_indices(lines).to_numpy()
    normalized = normalize(pc.list_flatten(lines))
    words = word_counts(normalized).to_numpy(zero_copy_only=False)
    log10 = np.array([model.score(line) if line else 0.0 for line in normalized.to_pylist()])
    scored = words > 0
    total_log10 = np.bincount(document[scored], log10[scored], minlength=len(texts))
    total_tokens = np.bincount(document[scored], words[scored] + 1, minlength=len(texts))
    with np.errstate(divide="ignore", invalid="ignore"):
        perplexity = np.round(10.0 ** (-total_log10 / total_tokens), 1)
    return pa.array(perplexity, pa.float32(), mask=total_tokens == 0)
