"""The `decontaminate` stage: remove documents that quote an evaluation set.

What it removes and why: benchmark questions leak into crawls, and a model trained on
them scores what it memorised. As for GPT-3, text is normalised (lowercased, every run of
characters that are not letters or digits becomes one space) and split into words; a
document that shares any n-word sequence (default 13) with a reference item is
contaminated. Changed case, spacing or punctuation do not hide a quote, and neither does
quoting only part of it.

Vectorised: words are looked up in the references' vocabulary (`pyarrow.compute.index_in`,
unknown words become 0) and each n-gram of word ids becomes one 64-bit rolling hash in
numpy, tested against each benchmark's sorted hashes. Annotates `contamination` (the
benchmarks matched, comma-separated); `action: drop` removes those documents as
`contaminated`, `mark` keeps them. Counts `benchmark.<name>`: documents matching it.
"""

from __future__ import annotations

from typing import Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import OpenFile
from pydantic import Field, model_validator

from filters.json_lines import read_json_lines
from pipeline.compressed import DAMAGED_STREAM, ArchiveOfFiles, decompressed_bytes
from pipeline.schema import AbsolutePath, StrictModel
from pipeline.stage import Stage, Verdict

NOT_A_WORD = r"[^\p{L}\p{N}]+"
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
"""Odd 64-bit constant of the rolling hash (arithmetic wraps modulo 2**64)."""


class Reference(StrictModel):
    """One evaluation set: JSONL (optionally compressed) or Parquet files, and the fields
    whose text must not appear in training data."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The benchmark's name, as `contamination` and the `benchmark.<name>` count show it."""
    paths: list[AbsolutePath] = Field(min_length=1)
    """JSONL (optionally compressed) or Parquet files; globs allowed."""
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    """The fields whose text must not appear in training data (e.g. question, answer)."""


def normalised_words(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """GPT-3 style: lowercase, non-alphanumeric runs to one space, split on whitespace."""
    spaced = pc.replace_substring_regex(pc.utf8_lower(texts), NOT_A_WORD, " ")
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.fill_null(spaced, "")))


def vocabulary_of(words: list[pa.ListArray]) -> pa.Array:
    """The distinct words of texts split by `normalised_words` (not an empty text's one "")."""
    vocabulary = pc.unique(pa.concat_arrays([w.flatten() for w in words]))
    return vocabulary.filter(pc.not_equal(vocabulary, ""))


def ngram_hashes(
    words: pa.ListArray, vocabulary: pa.Array, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram within one row: its rolling hash and the row it belongs to."""
    if isinstance(words, pa.ChunkedArray):
        words = pa.concat_arrays(words.chunks) if words.num_chunks else pa.array([], words.type)
    ids = pc.fill_null(pc.add(pc.index_in(words.flatten(), value_set=vocabulary), 1), 0)
    ids = ids.to_numpy(zero_copy_only=False).astype(np.uint64)
    offsets = words.offsets.to_numpy()
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.arange(len(ids) - n + 1) if len(ids) >= n else np.arange(0)
    inside = starts + n <= offsets[1:][rows[starts]] if len(starts) else starts.astype(bool)
    hashes = np.zeros(len(starts), np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            hashes = hashes * MULTIPLIER + ids[k : k + len(starts)]
    return hashes[inside], rows[starts[inside]]


def read_reference(reference: Reference) -> pa.Array:
    """The reference's texts, every listed field of every record, as one string array;
    ValueError naming the file that cannot give them."""
    columns = []
    for path in reference.paths:
        for file in fsspec.open_files(path, mode="rb"):
            try:
                table = _records(file)
            except (pa.ArrowInvalid, ArchiveOfFiles, *DAMAGED_STREAM) as err:
                raise ValueError(
                    f"references.{reference.name}: {file.path}: cannot be read ({err})"
                ) from None
            for field in reference.fields:
                if field not in table.column_names:
                    raise ValueError(
                        f"references.{reference.name}: {file.path} has no "
                        f"field {field!r} (it has {', '.join(table.column_names)})"
                    )
                columns.append(pc.cast(table.column(field), pa.string()))
    if not columns:
        raise ValueError(f"references.{reference.name}: no files match {reference.paths}")
    return pa.concat_arrays([chunk for column in columns for chunk in column.chunks])


def _records(file: OpenFile) -> pa.Table:
    if file.path.endswith(".parquet"):
        with file as handle:
            return pq.read_table(handle)
    return read_json_lines(decompressed_bytes(file.full_name))


class Decontaminate(Stage):
    """Drops (or marks) documents sharing an n-gram with an evaluation set."""

    name = "decontaminate"
    fields = (pa.field("contamination", pa.string()),)

    class Params(StrictModel):
        references: list[Reference] = Field(min_length=1)
        """The evaluation sets to check against."""
        ngram: int = Field(default=13, ge=3)
        """Words per n-gram; GPT-3 used 13."""
        action: Literal["drop", "mark"] = "drop"
        """`drop` removes matching documents as `contaminated`; `mark` only annotates them."""

        @model_validator(mode="after")
        def _references_read(self) -> Decontaminate.Params:
            """Each reference is read before the run, not in its first shard; one whose
            every item is shorter than `ngram` words could match no document."""
            for reference in self.references:
                lengths = pc.list_value_length(normalised_words(read_reference(reference)))
                longest = pc.max(lengths).as_py() or 0
                if longest < self.ngram:
                    raise ValueError(
                        f"references.{reference.name}: no item has {self.ngram} words (the "
                        f"longest has {longest}), so none could match; set a smaller `ngram`"
                    )
            return self

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.vocabulary, self.references = self._index()

    def _index(self) -> tuple[pa.Array, dict[str, np.ndarray]]:
        """The references' vocabulary, and each benchmark's sorted n-gram hashes."""
        words = {ref.name: normalised_words(read_reference(ref)) for ref in self.params.references}
        vocabulary = vocabulary_of(list(words.values()))
        hashes = {
            name: np.unique(ngram_hashes(w, vocabulary, self.params.ngram)[0])
            for name, w in words.items()
        }
        return vocabulary, hashes

    def process(self, table: pa.Table) -> Verdict:
        hashes, rows = ngram_hashes(
            normalised_words(table.column("text")), self.vocabulary, self.params.ngram
        )
        matched: list[list[str]] = [[] for _ in range(table.num_rows)]
        counters = {}
        for name, reference in self.references.items():
            hit_rows = np.unique(rows[np.isin(hashes, reference, assume_unique=False)])
            for row in hit_rows:
                matched[row].append(name)
            if len(hit_rows):
                counters[f"benchmark.{name}"] = len(hit_rows)
        contamination = pa.array([",".join(m) if m else None for m in matched], pa.string())
        table = table.append_column("contamination", contamination)
        removed = None
        if self.params.action == "drop":
            removed = pc.if_else(
                pc.is_null(contamination), pa.scalar(None, pa.string()), "contaminated"
            )
        return Verdict(table, removed=removed, counters=counters)
