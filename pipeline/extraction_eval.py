"""Extraction quality against a truth file, for `tokenmill eval-extraction`.

Two truth schemas, told apart by their values:
  - `{url: reference_text}`: precision, recall and F1 of the extracted text's lower-cased
    word 4-gram shingles against the reference's, averaged over pages;
  - trafilatura's `{url: {"with": [...], "without": [...]}}`: the share of `with` snippets
    found in the extracted text and of `without` snippets absent from it, over all snippets;
    snippets and text are compared lower-cased with whitespace collapsed.
URLs are matched after stripping surrounding whitespace (trafilatura's file has some).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import InputSpec
from pipeline.engines import ENGINES
from pipeline.extract import decode_html
from pipeline.inputs import InputFile
from pipeline.readers import read_documents
from pipeline.schema import ConfigError
from pipeline.stats import StageStats

REFERENCE = "trafilatura"
REFERENCE_SETTINGS = (
    "trafilatura.extract(include_comments=False, include_tables=True), other settings default"
)
SHINGLE_WORDS = 4


@dataclass
class EngineScore:
    """What one engine scored on the pages that have truth."""

    engine: str
    pages: int = 0
    seconds: float = 0.0
    errors: int = 0
    with_found: int = 0
    with_total: int = 0
    without_avoided: int = 0
    without_total: int = 0
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)

    @property
    def ms_per_page(self) -> float:
        return 1000 * self.seconds / self.pages if self.pages else 0.0

    @property
    def with_share(self) -> float:
        return self.with_found / self.with_total if self.with_total else 0.0

    @property
    def without_share(self) -> float:
        return self.without_avoided / self.without_total if self.without_total else 0.0

    def add(self, text: str, truth: str | dict) -> None:
        self.pages += 1
        if isinstance(truth, str):
            precision, recall, f1 = shingle_overlap(text, truth)
            self.precision.append(precision)
            self.recall.append(recall)
            self.f1.append(f1)
            return
        found = normalize(text)
        with_snippets = [normalize(s) for s in truth.get("with", [])]
        without_snippets = [normalize(s) for s in truth.get("without", [])]
        self.with_total += len(with_snippets)
        self.with_found += sum(snippet in found for snippet in with_snippets)
        self.without_total += len(without_snippets)
        self.without_avoided += sum(snippet not in found for snippet in without_snippets)


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def shingles(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    if len(words) < SHINGLE_WORDS:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def shingle_overlap(extracted: str, reference: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the extracted text's shingles against the reference's."""
    ours, theirs = shingles(extracted), shingles(reference)
    if not ours and not theirs:
        return 1.0, 1.0, 1.0
    common = len(ours & theirs)
    precision = common / len(ours) if ours else 0.0
    recall = common / len(theirs) if theirs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def load_truth(path: str | Path) -> dict[str, str | dict]:
    """URL → reference text or {with, without} snippets; a malformed file is a ConfigError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the truth file ({err})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a JSON object of url → truth")
    truth: dict[str, str | dict] = {}
    for url, value in data.items():
        valid_snippets = isinstance(value, dict) and all(
            isinstance(value.get(key, []), list) for key in ("with", "without")
        )
        if not isinstance(value, str) and not valid_snippets:
            raise ConfigError(
                f'{path}: {url!r}: expected a reference text or {{"with": [...], "without": [...]}}'
            )
        truth[url.strip()] = value
    return truth


def pages_with_truth(warc: str, truth: dict) -> Iterator[tuple[str, str]]:
    """(url, decoded HTML) of the WARC's pages that the truth file knows."""
    spec = InputSpec(source="eval", format="warc", paths=[warc])
    for batch in read_documents(InputFile(spec, warc, "eval-00000"), StageStats(), 64):
        for url, body, charset in zip(
            batch["url"].to_pylist(),
            batch["html"].to_pylist(),
            batch["charset"].to_pylist(),
            strict=True,
        ):
            if url.strip() in truth:
                yield url.strip(), decode_html(body, charset)


def evaluate(
    warc: str,
    truth: dict[str, str | dict],
    engines: list[str],
    progress: Callable[[], None] = lambda: None,
) -> tuple[dict[str, EngineScore], int]:
    """Score each engine on every page of `warc` with truth, engines interleaved per page.

    Returns the scores and how many truth URLs the WARC lacks. A page an engine raises on
    counts as an empty extraction and an error.
    """
    scores = {engine: EngineScore(engine) for engine in engines}
    seen: set[str] = set()
    for url, html in pages_with_truth(warc, truth):
        seen.add(url)
        for engine in engines:
            score = scores[engine]
            started = time.perf_counter()
            try:
                text = ENGINES[engine](html)
            except Exception:  # an engine's failure on one page is a score, not a crash
                text = ""
                score.errors += 1
            score.seconds += time.perf_counter() - started
            score.add(text, truth[url])
        progress()
    return scores, len(truth.keys() - seen)
