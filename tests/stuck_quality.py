"""The quality stage stuck on one document, for tests/test_sandbox.py (a sandbox's child
imports it by name)."""

from __future__ import annotations

import time

import pyarrow as pa

from filters.quality.stage import Quality
from filters.quality.words import spacy_tokenizer
from pipeline.stage import Verdict


class StuckQuality(Quality):
    """`quality`, never returning from a batch that holds the text `hang`. It loads spaCy's
    English rules when built, which is not timed, so that a budget of a second times the
    documents and not that loading (seconds, in each new child)."""

    def __init__(self, params: Quality.Params) -> None:
        super().__init__(params)
        spacy_tokenizer("en")

    def process(self, table: pa.Table) -> Verdict:
        if "hang" in table.column("text").to_pylist():
            time.sleep(3600)
        return super().process(table)
