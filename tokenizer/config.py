"""The `tokenizer` section of a job config: train a BPE on the run's documents, or load one."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pipeline.schema import RegularFile, StrictModel
from tokenizer.bpe import load_tokenizer


class TokenizerTrainConfig(StrictModel):
    """Byte-level BPE trained on a seeded sample of the curated documents."""

    vocab_size: int = Field(default=8192, ge=512)
    """Including the 256 byte symbols and the 7 special tokens."""
    sample_documents: int = Field(default=20_000, gt=0)
    """Documents drawn (seeded, uniformly over all sources) to train on."""
    min_frequency: int = Field(default=2, ge=1)
    """Fewest occurrences a merge needs."""
    seed: int = 0
    """Seeds the document sample."""


class TokenizerConfig(StrictModel):
    """Either `train` a tokenizer on the run's documents or load one from `path`."""

    train: TokenizerTrainConfig | None = None
    """Train a byte-level BPE on the run's documents."""
    path: RegularFile | None = None
    """An existing Hugging Face `tokenizer.json` with tokenmill's special tokens at ids 0-6."""

    @field_validator("path")
    @classmethod
    def _loads(cls, path: RegularFile | None) -> RegularFile | None:
        if path is not None:
            load_tokenizer(path)  # before the run, not after its stages
        return path

    @model_validator(mode="after")
    def _one_way(self) -> TokenizerConfig:
        if (self.train is None) == (self.path is None):
            raise ValueError("give exactly one of `train` or `path`")
        return self
