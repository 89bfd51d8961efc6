"""Heuristic quality filters: our `quality` stage vs datatrove's filters, same documents.

The trafilatura evaluation pages, extracted by our `extract` stage (trafilatura engine), go
in batches through datatrove's GopherRepetitionFilter → GopherQualityFilter →
C4QualityFilter → FineWebQualityFilter (each document stops at the first that removes it,
C4's kept lines feed FineWeb, as in a datatrove pipeline) and through our `quality: {}` (the
same four families, same thresholds, same order), every page judged as English, as
datatrove's filters judge by default. With `--per-language`, the pages first get the
language stage's labels (not timed); each page then goes through datatrove's filters as
FineWeb-2 runs them for its language (English pages as above) and through our stage's
per-language rules, each batch of `execution.batch_size` pages ordered as the shard runner
orders it for the stage (each language's pages together). The two alternate group by group
in one process, so machine load hits both alike. Our stage gets documents as a pipeline
run gives it them: the shard runner cuts batches of `execution.batch_size` into groups for
a stage with a time budget, as `quality` always is: 64 documents at first, doubling up to
256 while groups take under a quarter of the budget (`timed_groups`, `GroupSizes`; `--batch
N` for groups of N throughout; the sandbox's own cost is left out). Each of `--rounds`
rounds starts both afresh (our stage's chunk cache empty, as in a new worker); each side's
round of least CPU counts, as `timeit` takes the best. Prints docs/s (wall), MB/s per core
(CPU time), the ratio (and each round's), and how many documents the two decide differently.

    python -m benchmarks.filters [--corpora DIR] [--docs N] [--batch N] [--pages FILE.parquet]
                                 [--per-language] [--rounds N]

`--pages` caches the extracted pages (extraction is not what is measured here).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, this file's folder leads sys.path and its neighbours (tokenize.py) would
# hide standard modules.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from filters.language import Language
from filters.quality.stage import Quality
from pipeline.config import ExecutionConfig
from pipeline.sandbox import GroupSizes
from pipeline.shard import grouped_order, timed_groups
from support.corpora import CORPORA
from support.fineweb2_filters import kept, reference_filters, reference_judges


def add_page_arguments(parser: argparse.ArgumentParser) -> None:
    """--corpora and --pages (the extracted-pages cache), shared with word_split_check."""
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--pages", type=Path, default=None, help="extracted-pages cache")


def pages(corpora: Path, cache: Path | None) -> pa.Table:
    if cache is not None and cache.is_file():
        return pq.read_table(cache)
    from support.extracted_pages import extracted_pages

    table = extracted_pages(corpora / "web" / "trafilatura-eval.warc.gz")
    if cache is not None:
        pq.write_table(table, cache)
    return table


def with_published_languages(table: pa.Table) -> pa.Table:
    """The pages labelled by the language stage, less those the reference cannot judge
    (`reference_judges`)."""
    labelled = Language(Language.Params()).process(table).table.select(["text", "language"])
    languages = labelled["language"].to_pylist()
    judged = {language: reference_judges(language) for language in set(languages)}
    left_out = sorted(language for language, runs in judged.items() if not runs)
    if left_out:
        count = sum(not judged[language] for language in languages)
        print(f"left out, the reference cannot judge them: {count} pages ({', '.join(left_out)})")
    return labelled.filter(pa.array([judged[language] for language in languages]))


def runner_batches(table: pa.Table) -> list[pa.Table]:
    """The pages in the shard runner's batches of `execution.batch_size`, each batch's pages
    of a language together (`Stage.group_by`)."""
    size = ExecutionConfig().batch_size
    batches = [table.slice(start, size) for start in range(0, table.num_rows, size)]
    orders = [grouped_order(batch, Quality.group_by) for batch in batches]
    return [
        batch if order is None else batch.take(order)
        for batch, order in zip(batches, orders, strict=True)
    ]


def run_datatrove(filters: dict[str, list], languages: list[str], texts: list[str]) -> list[bool]:
    return [
        kept(filters[language], text, str(index))
        for index, (language, text) in enumerate(zip(languages, texts, strict=True))
    ]


CONTENDERS = ("datatrove", "tokenmill")


@dataclass
class Round:
    wall: dict[str, float]
    cpu: dict[str, float]
    disagree: int


def one_round(batches: list[pa.Table], languages: list[str], args: argparse.Namespace) -> Round:
    """Every page through both, group by group, each from a fresh start (our stage's chunk
    cache empty, as in a new worker)."""
    table = pa.concat_tables(batches)
    ours = Quality(Quality.Params.model_validate({"per_language": args.per_language}))
    theirs = {language: reference_filters(language) for language in set(languages)}
    # Both load each language's word splitting before timing, on its first page.
    for language in theirs:
        first = table.filter(pa.array([lang == language for lang in languages])).slice(0, 1)
        run_datatrove(theirs, [language], first["text"].to_pylist())
        ours.process(first)
    # A full collection walks every object the imports left (torch, spaCy, datatrove):
    # ~0.25 s, charged to whichever contender happens to trigger it. Frozen, they are not
    # walked, and neither contender pays for the other's or the imports' garbage.
    gc.collect()
    gc.freeze()
    wall = dict.fromkeys(CONTENDERS, 0.0)
    cpu = dict(wall)
    disagree, start = 0, 0
    timeout = ours.params.timeout
    sizes = (
        GroupSizes(timeout)
        if args.batch is None
        else GroupSizes(timeout, first=args.batch, largest=args.batch)
    )
    with Progress(transient=True) as progress:
        filtering = progress.add_task("filtering", total=table.num_rows)
        for batch in batches:
            for key, group in timed_groups(batch, Quality.group_by, sizes):
                texts = group["text"].to_pylist()
                t0, c0 = time.perf_counter(), time.process_time()
                their_keep = run_datatrove(theirs, languages[start : start + len(texts)], texts)
                t1, c1 = time.perf_counter(), time.process_time()
                our_keep = ours.process(group).removed.is_null().to_pylist()
                t2, c2 = time.perf_counter(), time.process_time()
                sizes.fitted(key, group.num_rows, t2 - t1)
                wall["datatrove"] += t1 - t0
                cpu["datatrove"] += c1 - c0
                wall["tokenmill"] += t2 - t1
                cpu["tokenmill"] += c2 - c1
                disagree += sum(a != b for a, b in zip(their_keep, our_keep, strict=True))
                start += group.num_rows
                progress.advance(filtering, group.num_rows)

    gc.unfreeze()
    return Round(wall, cpu, disagree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_page_arguments(parser)
    parser.add_argument("--docs", type=int, default=None, help="first N pages only")
    parser.add_argument(
        "--per-language",
        action="store_true",
        help="each page judged by its language's rules (FineWeb-2's, for datatrove too)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="the best of N rounds (default 3)")
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="documents per call of the stage (default: as a pipeline run gives them)",
    )
    args = parser.parse_args()

    table = pages(args.corpora, args.pages).select(["text"])
    if args.docs:
        table = table.slice(0, args.docs)
    if args.per_language:
        table = with_published_languages(table)
    batches = runner_batches(table)
    table = pa.concat_tables(batches)
    languages = table["language"].to_pylist() if args.per_language else ["en"] * table.num_rows
    megabytes = sum(len(t.encode()) for t in table["text"].to_pylist()) / 1e6
    timings = [one_round(batches, languages, args) for _ in range(args.rounds)]
    # Each side's round of least CPU: its cost with the least of the machine's noise in it.
    cpu = {name: min(t.cpu[name] for t in timings) for name in CONTENDERS}
    wall = {name: min(t.wall[name] for t in timings) for name in CONTENDERS}
    disagree = max(t.disagree for t in timings)

    result = Table(title=f"quality filters: {table.num_rows} pages, {megabytes:.1f} MB")
    for column in ("", "docs/s", "MB/s per core", "CPU s"):
        result.add_column(column, justify="right")
    for name in CONTENDERS:
        result.add_row(
            name,
            f"{table.num_rows / wall[name]:.1f}",
            f"{megabytes / cpu[name]:.3f}",
            f"{cpu[name]:.1f}",
        )
    console = Console()
    console.print(result)
    each = ", ".join(f"{t.cpu['datatrove'] / t.cpu['tokenmill']:.1f}x" for t in timings)
    console.print(f"ratio (CPU): {cpu['datatrove'] / cpu['tokenmill']:.1f}x (rounds: {each})")
    console.print(f"documents decided differently: {disagree} of {table.num_rows}")


if __name__ == "__main__":
    main()
