"""PII throughput and quality: our `pii` stage vs presidio's AnalyzerEngine on whole texts.

One process, one core, the same documents for both: web pages of the trafilatura
evaluation WARC through our `extract` stage, every other page with one Faker value
(e-mail, phone, card, SSN, IBAN, IP or crypto; en_US/en_GB/de_DE/fr_FR) injected.
  - presidio: AnalyzerEngine with a blank spaCy pipeline, restricted to the same entities,
    recognizers and phone regions as ours (a fair baseline: nothing we skip slows it),
    run on each whole text,
  - presidio, bisected context: the same with our `IndexedContextEnhancer` (presidio's
    context step finds each match's token by a scan from the first token),
  - ours: the `pii` stage on Arrow batches (pre-screen, presidio on windows, anonymizer).
Batches alternate between them, so machine load hits all alike, and the objects
loaded before timing are frozen out of the garbage collector's full passes. Prints MB/s, the
ratio, recall on the injected values, and how many pages without an injected value each
changed (those are real pages: some of what they find there is real PII).

    python -m benchmarks.pii [WARC] [--limit N] [--batch N]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from pathlib import Path

import pyarrow as pa
from faker import Faker
from rich.console import Console
from rich.progress import track
from rich.table import Table

from filters.pii import Pii
from filters.presidio_engine import IndexedContextEnhancer, analyzer_engine
from support.corpora import EVAL_WARC
from support.extracted_pages import extracted_pages
from support.pii_cases import GENERATORS, LOCALES, REGIONS, inject


def with_injected_pii(pages: list[str], seed: int = 0) -> list[tuple[str, str | None]]:
    """(text, injected value or None): every other page gets one value, types in turn."""
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for number, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + number)
    generators = list(GENERATORS.values())
    documents = []
    for n, page in enumerate(pages):
        if n % 2:
            documents.append((page, None))
            continue
        locale = LOCALES[(n // 2) % len(LOCALES)]
        value = generators[(n // 2) % len(generators)](fakers[locale], rng, REGIONS[locale])
        documents.append((inject(page, value, rng), value))
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warc", nargs="?", type=Path, default=EVAL_WARC)
    parser.add_argument("--limit", type=int, default=300, help="pages to use (default 300)")
    parser.add_argument("--batch", type=int, default=50, help="documents per timed batch")
    args = parser.parse_args()
    console = Console()
    console.print(f"extracting {args.warc} ...")
    pages = extracted_pages(args.warc, engine="tokenmill")["text"].to_pylist()
    documents = with_injected_pii(pages[: args.limit])
    stage = Pii(Pii.Params())
    params = stage.params
    presidio = analyzer_engine(
        params.entities, params.phone_regions, None, params.score_threshold, blank_spacy=True
    )
    # presidio with our one fix to its own code path (its context step scans every token
    # per match), so the ratio that is ours alone, not presidio's slow spot, shows too.
    bisected = analyzer_engine(
        params.entities, params.phone_regions, None, params.score_threshold, blank_spacy=True
    )
    bisected.context_aware_enhancer = IndexedContextEnhancer()
    baselines = {"presidio": presidio, "presidio, bisected context": bisected}
    # A full collection walks every object the imports left (torch, spaCy, transformers):
    # ~0.25 s, charged to whichever contender happens to trigger it. Frozen, they are not
    # walked, and neither contender pays for the other's or the imports' garbage.
    gc.collect()
    gc.freeze()
    names = [*baselines, "ours"]
    seconds = dict.fromkeys(names, 0.0)
    caught = dict.fromkeys(names, 0)
    altered = dict.fromkeys(names, 0)
    for start in track(range(0, len(documents), args.batch), description="batches"):
        batch = documents[start : start + args.batch]
        texts = [text for text, _ in batch]
        found = {}
        for name, engine in baselines.items():
            started = time.perf_counter()
            found[name] = [
                engine.analyze(text, language="en", entities=params.entities) for text in texts
            ]
            seconds[name] += time.perf_counter() - started

        started = time.perf_counter()
        ids = [str(n) for n in range(len(texts))]
        scrubbed = stage.process(pa.table({"id": ids, "text": texts})).table["text"].to_pylist()
        seconds["ours"] += time.perf_counter() - started

        for n, (text, value) in enumerate(batch):
            changed = {name: bool(found[name][n]) for name in baselines}
            changed["ours"] = scrubbed[n] != text
            for name in names:
                if value is None:
                    altered[name] += changed[name]
                elif name == "ours":
                    caught[name] += value not in scrubbed[n]
                else:
                    at = text.index(value)
                    caught[name] += any(
                        r.start < at + len(value) and r.end > at for r in found[name][n]
                    )

    megabytes = sum(len(text.encode()) for text, _ in documents) / 1e6
    injected = sum(value is not None for _, value in documents)
    clean = len(documents) - injected
    table = Table(title=f"PII, one core: {len(documents)} pages, {megabytes:.2f} MB")
    for column in ("contender", "seconds", "MB/s", "recall (injected)", "clean pages altered"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name in names:
        table.add_row(
            name,
            f"{seconds[name]:.1f}",
            f"{megabytes / seconds[name]:.3f}",
            f"{caught[name]}/{injected} = {caught[name] / injected:.3f}",
            f"{altered[name]}/{clean}",
        )
    console.print(table)
    for name in baselines:
        console.print(f"speed-up vs {name}: {seconds[name] / seconds['ours']:.1f}× (goal ≥ 30×)")


if __name__ == "__main__":
    main()
