"""Read + extract throughput and quality: our engines vs trafilatura vs datatrove.

One core at a time, the same WARC for every contender:
  - ours: tokenmill's WARC reader + `extract` stage with each engine (tokenmill, resiliparse,
    trafilatura), each in its sandbox as the shard runner runs it (a child process that the
    batch is sent to and the verdict comes back from; started before timing, as a Ray worker
    starts it once for all its shards). The WARC is read once; every batch goes through the
    engines in turn, so machine load falls on all of them alike. Their seconds are the shared
    read time plus their own extract time;
  - datatrove: WarcReader + Trafilatura extractor (its defaults: favour_precision, 1 s timeout).
Prints documents/s and MB/s (of the HTML) for each, extract ms/page per engine, and each one's
speed relative to datatrove. With a truth file in trafilatura's schema (by default the
`trafilatura-evaldata.json` beside the WARC) it also prints each engine's share of `with`
snippets found and `without` snippets avoided, and the tokenmill/trafilatura time ratio.
`--half held-out` scores only the pages whose URL hashes odd (`--half dev`: even), every page
still extracted and timed: the engine's rules are developed on the dev half and checked on
the held-out one, so that they are not fitted to the pages they are scored on.

    python -m benchmarks.extract [WARC] [--truth TRUTH.json] [--limit N] [--no-datatrove]
                                 [--half dev|held-out]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipeline.config import InputSpec
from pipeline.documents import RAW_COLUMNS, text_bytes
from pipeline.extract import Extract
from pipeline.extraction_eval import REFERENCE_SETTINGS, EngineScore, load_truth
from pipeline.inputs import InputFile
from pipeline.readers import read_documents
from pipeline.sandbox import sandboxed
from pipeline.stats import StageStats
from support.corpora import EVAL_WARC

ENGINES = ("tokenmill", "resiliparse", "trafilatura")


def ours(warc: Path, truth: dict, limit: int | None) -> tuple[int, int, float, dict]:
    """Pages, HTML bytes, read seconds, and per engine (extract seconds, its EngineScore)."""
    spec = InputSpec(source="web", format="warc", paths=[str(warc)])
    stages = {
        engine: sandboxed(Extract, Extract.Params(engine=engine), leaves_out=RAW_COLUMNS)
        for engine in ENGINES
    }
    results = {engine: [0.0, EngineScore(engine)] for engine in ENGINES}
    pages = html_bytes = 0
    read_seconds, started = 0.0, time.perf_counter()
    batches = read_documents(InputFile(spec, str(warc), "web-00000"), StageStats(), 64)
    for batch in track(batches, description="extracting", transient=True):
        if limit is not None:
            batch = batch.slice(0, max(limit - pages, 0))
        read_seconds += time.perf_counter() - started
        html_bytes += text_bytes(batch)
        pages += batch.num_rows
        for engine, stage in stages.items():
            began = time.perf_counter()
            table = stage.process(batch).table
            results[engine][0] += time.perf_counter() - began
            for url, text in zip(table["url"].to_pylist(), table["text"].to_pylist(), strict=True):
                if url.strip() in truth:
                    results[engine][1].add(text or "", truth[url.strip()])
        if limit is not None and pages >= limit:
            break
        started = time.perf_counter()
    return pages, html_bytes, read_seconds, results


def in_half(url: str, half: str) -> bool:
    """Whether `url` belongs to the `dev` (even) or `held-out` (odd) half of a page set."""
    return hashlib.sha256(url.encode()).digest()[0] % 2 == (half == "held-out")


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
    collections.deque(Trafilatura().run(counted(reader.run())), maxlen=0)  # drain the pipeline
    return pages, html_bytes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warc", nargs="?", type=Path, default=EVAL_WARC)
    parser.add_argument("--truth", type=Path, help="truth JSON (default: beside the WARC)")
    parser.add_argument("--limit", type=int, help="only the first N pages")
    parser.add_argument("--no-datatrove", action="store_true", help="skip the datatrove run")
    parser.add_argument("--half", choices=["dev", "held-out"], help="score only this half")
    args = parser.parse_args()
    truth_path = args.truth or args.warc.with_name("trafilatura-evaldata.json")
    truth = load_truth(truth_path) if truth_path.exists() else {}
    if args.half:
        truth = {url: value for url, value in truth.items() if in_half(url, args.half)}
    console = Console(width=160)
    console.print(f"{args.warc} ({os.path.getsize(args.warc) / 1e6:.1f} MB), one core")
    console.print("ours: tokenmill, resiliparse and trafilatura engines, interleaved per batch ...")
    pages, html_bytes, read_seconds, engines = ours(args.warc, truth, args.limit)
    rows = {
        f"ours, {engine}": (pages, html_bytes, read_seconds + seconds, seconds, score)
        for engine, (seconds, score) in engines.items()
    }
    if not args.no_datatrove:
        console.print("datatrove WarcReader + Trafilatura ...")
        dt_pages, dt_bytes, dt_seconds = datatrove(args.warc, args.limit)
        rows["datatrove + Trafilatura"] = (dt_pages, dt_bytes, dt_seconds, None, None)
    reference = rows.get("datatrove + Trafilatura")
    table = Table(title="read + extract, one core")
    columns = ["contender", "pages", "seconds", "docs/s", "HTML MB/s", "extract ms/page"]
    columns += ["× datatrove"] if reference else []
    columns += ["with found %", "without avoided %"] if truth else []
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, (n, size, seconds, extract_seconds, score) in rows.items():
        row = [name, str(n), f"{seconds:.1f}", f"{n / seconds:.1f}", f"{size / 1e6 / seconds:.2f}"]
        row.append(f"{1000 * extract_seconds / n:.1f}" if extract_seconds is not None else "")
        if reference:
            row.append(f"{(n / seconds) / (reference[0] / reference[2]):.2f}")
        if truth:
            row += (
                [f"{100 * score.with_share:.2f}", f"{100 * score.without_share:.2f}"]
                if score
                else ["", ""]
            )
        table.add_row(*row)
    console.print(table)
    ratio = engines["tokenmill"][0] / engines["trafilatura"][0]
    console.print(
        f"tokenmill engine time / trafilatura engine time: {ratio:.3f} "
        f"(trafilatura is {1 / ratio:.1f}× slower); trafilatura = {REFERENCE_SETTINGS}",
        soft_wrap=True,
    )
    if truth:
        half = f", the {args.half} half ({len(truth)} pages)" if args.half else ""
        console.print(f"quality against {truth_path}{half}", soft_wrap=True)


if __name__ == "__main__":
    main()
