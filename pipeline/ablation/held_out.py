"""Held-out text, read and encoded once, that every model of an ablation is scored on.

The text comes from inputs as a job's do (`jsonl`, `parquet`, `text`, `wet`: text, not pages
to extract), each source kept apart. Records a reader cannot read are counted, as a job
counts them, and left out; a source with no document left is a config error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pyarrow as pa

from pipeline.config import InputSpec
from pipeline.inputs import input_files
from pipeline.readers import read_documents
from pipeline.schema import ConfigError
from pipeline.stats import StageStats
from tokenizer.bpe import load_tokenizer
from tokenizer.encode import encode_documents

BATCH = 512


@dataclass
class HeldOutSource:
    """One source's documents: their text, as token ids framed `<|bos|> … <|eos|>`, and
    their size."""

    name: str
    text: pa.StringArray
    documents: list[np.ndarray]
    text_bytes: int
    unread: Counter[str]
    """Records the readers could not read, by reason (errored, or removed as not text)."""

    @property
    def tokens(self) -> int:
        return sum(len(ids) - 1 for ids in self.documents)  # predicted: all but each bos


def read_held_out(
    specs: list[InputSpec], tokenizer_path: str, key: str, output: str
) -> list[HeldOutSource]:
    """The held-out text of `specs` (config key `key`; files outside the folder `output`),
    by source, encoded with the tokenizer at `tokenizer_path`."""
    tokenizer = load_tokenizer(tokenizer_path)
    texts: dict[str, list[pa.Array]] = {}
    stats: dict[str, StageStats] = {}
    for file in input_files(specs, output, key):
        counts = stats.setdefault(file.source, StageStats())
        for batch in read_documents(file, counts, BATCH):
            texts.setdefault(file.source, []).append(batch.column("text").combine_chunks())
    sources = []
    for name, counts in stats.items():
        parts = texts.get(name, [])
        if not sum(len(part) for part in parts):
            raise ConfigError(f"{key}: source {name} has no document that could be read")
        text = pa.concat_arrays(parts)
        encoded = encode_documents(tokenizer, text)
        offsets = encoded.offsets.to_numpy()
        values = encoded.values.to_numpy()
        documents = [values[start:end] for start, end in pairwise(offsets)]
        text_bytes = int(pa.compute.sum(pa.compute.binary_length(text)).as_py())
        sources.append(
            HeldOutSource(name, text, documents, text_bytes, counts.errored + counts.removed)
        )
    return sources
