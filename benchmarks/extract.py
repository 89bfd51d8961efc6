"""Read + extract throughput: our resiliparse and trafilatura engines vs datatrove.

One process, one core, the same WARC for every contender:
  - ours: tokenmill's WARC reader + `extract` stage, per engine,
  - datatrove: WarcReader + Trafilatura extractor (its defaults: favour_precision, 1 s timeout).
Prints documents/s and MB/s (of the WARC file) for each, and each one's speed relative to
datatrove.

    python benchmarks/extract.py [WARC] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.config import InputSpec
from pipeline.documents import text_bytes
from pipeline.extract import Extract
from pipeline.inputs import InputFile
from pipeline.readers import read_documents
from pipeline.stats import StageStats

DEFAULT_WARC = Path(__file__).resolve().parents[2] / "shared/corpora/web/trafilatura-eval.warc.gz"


def ours(warc: Path, engine: str, limit: int | None) -> tuple[int, int, float]:
    spec = InputSpec(source="web", format="warc", paths=[str(warc)])
    stage = Extract(Extract.Params(engine=engine))
    pages, html_bytes, started = 0, 0, time.perf_counter()
    for batch in read_documents(InputFile(spec, str(warc), "web-00000"), StageStats(), 64):
        if limit is not None:
            batch = batch.slice(0, max(limit - pages, 0))
        html_bytes += text_bytes(batch)
        pages += stage.process(batch).table.num_rows
        if limit is not None and pages >= limit:
            break
    return pages, html_bytes, time.perf_counter() - started


def datatrove(warc: Path, limit: int | None) -> tuple[int, int, float]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    reader = WarcReader(str(warc.parent), glob_pattern=warc.name, limit=limit or -1)
    pages = html_bytes = 0

    def counted(documents):
        nonlocal pages, html_bytes
        for document in documents:
            pages += 1
            html_bytes += len(document.text)
            yield document

    started = time.perf_counter()
    for _ in Trafilatura().run(counted(reader.run())):
        pass
    return pages, html_bytes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warc", nargs="?", type=Path, default=DEFAULT_WARC)
    parser.add_argument("--limit", type=int, help="only the first N pages")
    args = parser.parse_args()
    console = Console()
    console.print(f"{args.warc} ({os.path.getsize(args.warc) / 1e6:.1f} MB), one process")
    results = {}
    for engine in ("resiliparse", "trafilatura"):
        console.print(f"ours, {engine} ...")
        results[f"tokenmill {engine}"] = ours(args.warc, engine, args.limit)
    console.print("datatrove WarcReader + Trafilatura ...")
    results["datatrove WarcReader+Trafilatura"] = datatrove(args.warc, args.limit)
    reference_pages, _, reference_seconds = results["datatrove WarcReader+Trafilatura"]
    table = Table(title="read + extract, one core")
    for column in (
        "contender",
        "pages",
        "seconds",
        "docs/s",
        "HTML MB/s",
        "ms/page",
        "× datatrove",
    ):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, (pages, html_bytes, seconds) in results.items():
        speedup = (pages / seconds) / (reference_pages / reference_seconds)
        table.add_row(
            name,
            str(pages),
            f"{seconds:.1f}",
            f"{pages / seconds:.1f}",
            f"{html_bytes / 1e6 / seconds:.2f}",
            f"{1000 * seconds / pages:.1f}",
            f"{speedup:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
