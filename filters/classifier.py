"""The `classifier` stage: a fastText quality classifier's score, and its selection (DCLM).

Annotates `quality_score`, the model's probability of the `hq` label (reference-like text,
see filters.classifier_training). Selects in one of two ways:
- `min_score`: removes `quality_score_low`, documents whose score is not above it;
- `keep_fraction`: keeps the best-scoring share of each batch (`execution.batch_size`
  documents, 512 by default) and removes the rest as `quality_score_low`. DCLM keeps its
  top 10% over the whole pool; a batch is a uniform sample of a shard, so the cut is an
  estimate of that global quantile. For an exact, reproducible cut, use `min_score`.
Without either, the stage only annotates.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from filters.classifier_training import POSITIVE
from filters.fasttext_model import FastTextModel, fasttext_file, load_model
from pipeline.schema import RegularFile, StrictModel
from pipeline.stage import Stage, Verdict, crossed_details


class Classifier(Stage):
    """Scores each document with a fastText quality classifier and drops the low scorers."""

    name = "classifier"
    fields = (pa.field("quality_score", pa.float32()),)

    class Params(StrictModel):
        model: RegularFile
        """fastText model from `tokenmill classifier train` (.bin or quantised .ftz)."""
        label: str = POSITIVE
        """The label whose probability is the score."""
        min_score: float | None = Field(default=None, ge=0.0, le=1.0)
        """Remove documents whose score is not above this (`quality_score_low`)."""
        keep_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
        """Keep the best-scoring share of each batch instead (an estimate of the global quantile)."""

        @field_validator("model")
        @classmethod
        def _a_fasttext_model(cls, model: str) -> str:
            return fasttext_file(model)

        @model_validator(mode="after")
        def _one_selection(self) -> Classifier.Params:
            if self.min_score is not None and self.keep_fraction is not None:
                raise ValueError("use either min_score or keep_fraction, not both")
            return self

    def load(self) -> None:
        load_model(self.params.model)

    def process(self, table: pa.Table) -> Verdict:
        texts = pc.fill_null(table.column("text"), "").to_pylist()
        scores = self._scores(load_model(self.params.model), texts)
        table = table.append_column("quality_score", pa.array(scores, pa.float32()))
        threshold = self._threshold(scores)
        if threshold is None:
            return Verdict(table)
        low = ~(scores > threshold)
        return Verdict(
            table,
            removed=pa.array(np.where(low, "quality_score_low", None), pa.string()),
            details=crossed_details(low, scores, "≤", threshold),
        )

    def _scores(self, model: FastTextModel, texts: list[str]) -> np.ndarray:
        if len(model.labels) != 2:
            return model.probability(texts, self.params.label)
        # Two labels: the top one and its probability say it all (DCLM's shortcut), and
        # asking for one label is the cheaper call.
        found, top = model.top(texts)
        labels = np.array(found)
        other = np.where(labels == "", 0.0, 1.0 - top)  # no words: no label, score 0
        return np.where(labels == self.params.label, top, other)

    def _threshold(self, scores: np.ndarray) -> float | None:
        if self.params.keep_fraction is None:
            return self.params.min_score
        dropped = round(len(scores) * (1.0 - self.params.keep_fraction))
        return float(np.sort(scores)[dropped - 1]) if dropped > 0 else -1.0
