"""Held-out text a variant trained on: the held-out documents that share an n-word sequence
with a document in the variant's training shards.

A model scores what it memorised, so a variant whose curation keeps more of the held-out text
would look better than it is. Words are normalised and n-grams hashed as the `decontaminate`
stage does (GPT-3's measure, 13 words by default), with the held-out text as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.decontaminate import ngram_hashes, normalised_words, vocabulary_of
from pipeline.ablation.held_out import HeldOutSource
from pipeline.output import RunOutput
from trainer.data import train_shards
from trainer.storage import location, read_parquet

BATCH = 4096


@dataclass
class HeldOutNgrams:
    """Every n-gram of the held-out text, with the document it comes from."""

    n: int
    vocabulary: pa.Array
    hashes: np.ndarray
    documents: np.ndarray
    """The held-out document (numbered across sources, in order) of each hash."""
    sources: dict[str, int]
    """Source name → its documents."""

    @classmethod
    def of(cls, held_out: list[HeldOutSource], n: int) -> HeldOutNgrams:
        words = normalised_words(pa.concat_arrays([source.text for source in held_out]))
        vocabulary = vocabulary_of([words])
        hashes, documents = ngram_hashes(words, vocabulary, n)
        sources = {source.name: len(source.text) for source in held_out}
        return cls(n, vocabulary, hashes, documents, sources)


@dataclass
class Contamination:
    """What of the held-out text one variant's training documents hold."""

    held_out_documents: dict[str, int]
    """Source → its documents that share an n-gram with a training document."""
    training_documents: int
    """Training documents that share an n-gram with the held-out text."""

    def as_json(self) -> dict:
        return {
            "held_out_documents": sum(self.held_out_documents.values()),
            "held_out_documents_by_source": self.held_out_documents,
            "training_documents": self.training_documents,
        }


def contamination(ngrams: HeldOutNgrams, run: RunOutput) -> Contamination:
    """The held-out documents quoted by the documents the run's training shards hold (each
    once, however often the mixture repeats it; validation documents are not trained on)."""
    trained = trained_ids(run)
    shared: list[np.ndarray] = []
    training_documents = 0
    for name in run.list("documents", suffix=".parquet"):
        with run.fs.open(run.path("documents", name), "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(BATCH, columns=["id", "text"]):
                text = batch.column("text").filter(pc.is_in(batch.column("id"), trained))
                hashes, rows = ngram_hashes(normalised_words(text), ngrams.vocabulary, ngrams.n)
                found = np.isin(hashes, ngrams.hashes)
                shared.append(np.unique(hashes[found]))
                training_documents += len(np.unique(rows[found]))
    quoted_hashes = np.concatenate(shared) if shared else np.empty(0, np.uint64)
    quoted = np.unique(ngrams.documents[np.isin(ngrams.hashes, quoted_hashes)])
    starts = np.cumsum([0, *ngrams.sources.values()])[:-1]
    by_source = np.bincount(
        np.searchsorted(starts, quoted, side="right") - 1, minlength=len(starts)
    )
    return Contamination(
        {name: int(count) for name, count in zip(ngrams.sources, by_source, strict=True)},
        training_documents,
    )


def trained_ids(run: RunOutput) -> pa.Array:
    """The ids of the documents in the training shards the run's token manifest lists."""
    shards = train_shards(location(run.url))
    return pc.unique(pa.concat_tables(read_parquet(shard, ["id"]) for shard in shards)["id"])
