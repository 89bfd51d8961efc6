"""Training the run's tokenizer on a seeded sample of its curated documents.

The sample is the `sample_documents` documents with the smallest seeded keys over all of
OUT/documents, i.e. a uniform sample without replacement that does not depend on shard
order; it is collected one batch at a time, so memory holds the sample plus one batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from mixing.keys import derive, id_keys
from pipeline.checksums import verify_file
from pipeline.output import RunOutput
from tokenizer.bpe import train_bpe
from tokenizer.config import TokenizerTrainConfig
from tokenizer.encode import one_thread_per_task

TOKENIZER_SAMPLE = 5
"""Purpose of the keys that draw the training sample (see mixing.keys)."""


def sample_texts(
    output: RunOutput, documents: dict[str, dict], size: int, seed: int, batch_size: int = 4096
) -> list[str]:
    """The sample from the documents shards (name → what the run recorded writing it, which
    each is checked against before it is read)."""
    best = pa.table({"key": pa.array([], pa.uint64()), "text": pa.array([], pa.string())})
    for name, recorded in sorted(documents.items()):
        verify_file(output.url_of("documents", name), recorded)
        with output.fs.open(output.path("documents", name), "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size, columns=["id", "text"]):
                batch = batch.filter(pc.is_valid(batch.column("text")))
                keys = derive(id_keys(batch.column("id"), seed), TOKENIZER_SAMPLE)
                candidates = pa.table({"key": keys, "text": batch.column("text")})
                best = _smallest(pa.concat_tables([best, candidates]), size)
    return best.sort_by("key").column("text").to_pylist()


def _smallest(table: pa.Table, size: int) -> pa.Table:
    if table.num_rows <= size:
        return table
    keys = table.column("key").to_numpy()
    return table.take(np.argpartition(keys, size - 1)[:size])


def train_on_documents(
    output_url: str, documents: dict[str, dict], config: TokenizerTrainConfig
) -> str:
    """Ray task: train on the sample and return the tokenizer as JSON."""
    one_thread_per_task()
    output = RunOutput(output_url)
    texts = sample_texts(output, documents, config.sample_documents, config.seed)
    if not texts:
        raise ValueError(f"{output.path('documents')}: no documents to train a tokenizer on")
    tokenizer: Tokenizer = train_bpe(texts, config.vocab_size, config.min_frequency)
    return tokenizer.to_str()
