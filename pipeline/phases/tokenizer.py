"""The `tokenizer` phase: train a byte-level BPE on a seeded sample of the run's documents
(one Ray task) or load the configured one, and save OUT/tokenizer/tokenizer.json.

The sample is the `sample_documents` documents with the smallest seeded keys over all of
OUT/documents, i.e. a uniform sample without replacement that does not depend on shard
order; it is collected one batch at a time, so memory holds the sample plus one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from tokenizers import Tokenizer

from mixing.keys import derive, text_keys
from pipeline.checksums import verify_file
from pipeline.output import RunOutput
from pipeline.phase import PhaseContext, PhaseSummary, digest_of
from tokenizer.bpe import fingerprint, load_tokenizer, train_bpe
from tokenizer.config import TokenizerConfig, TokenizerTrainConfig
from tokenizer.encode import one_thread_per_task

TOKENIZER_SAMPLE = 5
"""Purpose of the keys that draw the training sample (see mixing.keys)."""


@dataclass
class TokenizerSummary(PhaseSummary):
    sha256: str
    """`tokenizer.bpe.fingerprint`: equal hashes encode text identically."""
    vocab_size: int


@dataclass
class TokenizerPhase:
    spec: TokenizerConfig
    documents: dict[str, dict]
    """The documents shards: name → what the run recorded writing it."""
    plan_digest: str
    name = "tokenizer"
    Summary = TokenizerSummary
    loaded: Tokenizer | None = field(init=False)

    def __post_init__(self) -> None:
        self.loaded = load_tokenizer(self.spec.path) if self.spec.path is not None else None

    def digest(self) -> str:
        if self.loaded is not None:
            return digest_of(fingerprint(self.loaded))
        return digest_of([self.plan_digest, self.spec.model_dump(mode="json")])

    def run(self, context: PhaseContext) -> TokenizerSummary:
        tokenizer = self.loaded
        if tokenizer is None:
            context.workers()
            train = self.spec.train
            context.console.print(f"training a {train.vocab_size:,}-token byte-level BPE tokenizer")
            trained = _TRAIN.remote(context.output.url, self.documents, train)
            tokenizer = Tokenizer.from_str(ray.get(trained))
        with context.output.atomic("tokenizer", "tokenizer.json") as handle:
            handle.write(tokenizer.to_str(pretty=True).encode())
        return TokenizerSummary(fingerprint(tokenizer), tokenizer.get_vocab_size())


def read_tokenizer(output: RunOutput) -> str:
    """OUT/tokenizer/tokenizer.json, as the phase saved it."""
    with output.fs.open(
        output.path("tokenizer", "tokenizer.json"), "r", encoding="utf-8"
    ) as handle:
        return handle.read()


def train_on_documents(
    output_url: str, documents: dict[str, dict], config: TokenizerTrainConfig
) -> str:
    """Ray task: train on the sample and return the tokenizer as JSON."""
    one_thread_per_task()
    output = RunOutput(output_url)
    texts = sample_texts(output, documents, config.sample_documents, config.seed)
    if not texts:
        raise ValueError(f"{output.path('documents')}: no documents to train a tokenizer on")
    return train_bpe(texts, config.vocab_size, config.min_frequency).to_str()


def sample_texts(
    output: RunOutput, documents: dict[str, dict], size: int, seed: int, batch_size: int = 4096
) -> list[str]:
    """The sample from the documents shards (name → what the run recorded writing it, which
    each is checked against before it is read)."""
    best = pa.table({"key": pa.array([], pa.uint64()), "text": pa.array([], pa.string())})
    for name, recorded in sorted(documents.items()):
        verify_file(output.url_of("documents", name), recorded)
        with output.fs.open(output.path("documents", name), "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size, columns=["text"]):
                batch = batch.filter(pc.is_valid(batch.column("text")))
                keys = derive(text_keys(batch.column("text"), seed), TOKENIZER_SAMPLE)
                candidates = pa.table({"key": keys, "text": batch.column("text")})
                best = _smallest(pa.concat_tables([best, candidates]), size)
    return best.sort_by("key").column("text").to_pylist()


def _smallest(table: pa.Table, size: int) -> pa.Table:
    if table.num_rows <= size:
        return table
    keys = table.column("key").to_numpy()
    return table.take(np.argpartition(keys, size - 1)[:size])


# Defined once, so Ray exports the function once per job rather than once per phase run.
_TRAIN = ray.remote(num_cpus=1)(train_on_documents)
