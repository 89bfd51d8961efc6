"""The `perplexity` stage: CCNet's KenLM perplexity of each document, and its selection.

Annotates `perplexity` (length-weighted over the document's paragraphs, see
filters.kenlm_model) and, with `cutoffs`, `perplexity_bucket`. Low perplexity means text
that reads like the model's training data (Wikipedia for CCNet). Two ways to select:
- `max_perplexity`: removes `perplexity_high`, documents above it;
- `keep: [head, middle]` with `cutoffs`: CCNet's buckets. A cutoffs file (written by
  `tokenmill lm cutoffs` from a sample) holds each language's 30th and 60th percentile;
  below the first is `head`, up to the second `middle`, above it `tail`. Documents of a
  bucket not kept are removed `perplexity_<bucket>`. A language the file lacks uses its
  pooled `*` entry; documents without a `language` column are pooled too.
Without either, the stage only annotates. Documents with no words get a null perplexity
and are kept: there is no evidence against them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from filters.kenlm_model import document_perplexities, kenlm_file, load_kenlm
from pipeline.schema import RegularFile, StrictModel
from pipeline.stage import Stage, Verdict, crossed_details

Bucket = Literal["head", "middle", "tail"]
BUCKETS: tuple[Bucket, ...] = ("head", "middle", "tail")
ALL_LANGUAGES = "*"


@cache
def read_cutoffs(path: str) -> dict[str, tuple[float, float]]:
    """language → (30th, 60th percentile of perplexity), as `tokenmill lm cutoffs` writes;
    ValueError naming the file where it holds no such mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cutoffs = {language: (float(a), float(b)) for language, (a, b) in data["cutoffs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path}: not the cutoffs `tokenmill lm cutoffs` writes ({type(err).__name__}: {err})"
        ) from None
    if ALL_LANGUAGES not in cutoffs:
        raise ValueError(f"{path}: no `cutoffs.{ALL_LANGUAGES}` entry (pooled languages)")
    return cutoffs


def bucket_cutoffs(
    perplexity: np.ndarray, languages: list[str | None], percentiles: tuple[float, float] = (30, 60)
) -> dict[str, list[float]]:
    """Each language's perplexity percentiles in a sample, plus the pooled `*` entry."""
    scored = ~np.isnan(perplexity)
    groups = np.array([lang or ALL_LANGUAGES for lang in languages], dtype=object)
    samples = {ALL_LANGUAGES: perplexity[scored]}
    for language in sorted(set(groups[scored]) - {ALL_LANGUAGES}):
        samples[language] = perplexity[scored & (groups == language)]
    return {
        language: np.round(np.percentile(sample, percentiles), 1).tolist()
        for language, sample in samples.items()
    }


class Perplexity(Stage):
    """Scores each document with a KenLM model and drops those that read least like its data."""

    name = "perplexity"
    fields = (pa.field("perplexity", pa.float32()), pa.field("perplexity_bucket", pa.string()))

    class Params(StrictModel):
        model: RegularFile
        """KenLM binary (or ARPA) model, e.g. from `tokenmill lm train`."""
        max_perplexity: float | None = Field(default=None, gt=0)
        """Remove documents above this perplexity (`perplexity_high`)."""
        cutoffs: RegularFile | None = None
        """Per-language bucket cutoffs from `tokenmill lm cutoffs`."""

        @field_validator("model")
        @classmethod
        def _a_kenlm_model(cls, model: str) -> str:
            return kenlm_file(model)

        keep: list[Bucket] | None = Field(default=None, min_length=1)
        """Buckets to keep (needs `cutoffs`), e.g. [head, middle] as CCNet's release."""

        @model_validator(mode="after")
        def _one_selection(self) -> Perplexity.Params:
            if self.keep is not None and self.cutoffs is None:
                raise ValueError("keep: needs `cutoffs` (from `tokenmill lm cutoffs`)")
            if self.keep is not None and self.max_perplexity is not None:
                raise ValueError("use either max_perplexity or keep, not both")
            if self.cutoffs is not None:
                read_cutoffs(self.cutoffs)
            return self

    def load(self) -> None:
        load_kenlm(self.params.model)

    def process(self, table: pa.Table) -> Verdict:
        perplexity = document_perplexities(self.params.model, table.column("text"))
        buckets = self._buckets(table, perplexity)
        table = table.append_column("perplexity", perplexity)
        table = table.append_column("perplexity_bucket", buckets)
        return Verdict(
            table, removed=self._reasons(perplexity, buckets), details=self._details(perplexity)
        )

    def _details(self, perplexity: pa.Array) -> pa.Array | None:
        if self.params.max_perplexity is None:
            return None
        values = perplexity.to_numpy(zero_copy_only=False)
        high = values > self.params.max_perplexity
        return crossed_details(high, values, ">", self.params.max_perplexity)

    def _buckets(self, table: pa.Table, perplexity: pa.Array) -> pa.Array:
        if self.params.cutoffs is None:
            return pa.nulls(len(perplexity), pa.string())
        bounds = _language_bounds(read_cutoffs(self.params.cutoffs), table)
        values = perplexity.to_numpy(zero_copy_only=False)
        index = (values > bounds[:, 0]).astype(int) + (values > bounds[:, 1])
        return pa.array(np.array(BUCKETS, dtype=object)[index], pa.string(), mask=np.isnan(values))

    def _reasons(self, perplexity: pa.Array, buckets: pa.Array) -> pa.Array | None:
        none = pa.scalar(None, pa.string())
        if self.params.max_perplexity is not None:
            high = pc.fill_null(pc.greater(perplexity, self.params.max_perplexity), False)
            return pc.if_else(high, "perplexity_high", none)
        if self.params.keep is not None:
            dropped = pc.invert(pc.is_in(buckets, pa.array(self.params.keep)))
            dropped = pc.fill_null(dropped, False)
            return pc.if_else(
                dropped, pc.binary_join_element_wise("perplexity_", buckets, ""), none
            )
        return None


def _language_bounds(cutoffs: dict[str, tuple[float, float]], table: pa.Table) -> np.ndarray:
    """Per document, its language's two cutoffs (the pooled `*` ones where it has none or
    the file lacks it), looked up once per distinct language."""
    pooled = cutoffs[ALL_LANGUAGES]
    if "language" not in table.column_names:
        return np.tile(pooled, (table.num_rows, 1))
    languages = pc.fill_null(table.column("language").combine_chunks(), ALL_LANGUAGES)
    encoded = pc.dictionary_encode(languages)
    distinct = [cutoffs.get(language, pooled) for language in encoded.dictionary.to_pylist()]
    per_language = np.array(distinct, dtype=float).reshape(-1, 2)
    return per_language[encoded.indices.to_numpy(zero_copy_only=False)]
