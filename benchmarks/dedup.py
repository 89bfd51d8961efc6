"""MinHash dedup speed: our signatures vs datasketch, our Ray dedup vs datatrove's four steps.

The same documents for every contender: WikiText-2 articles cut into 200-word pieces, plus
copies of some of them (exact, 1% of words edited, 50% edited) so there is something to find.
  1. signatures, one process: ours (`shingle_batch` + `MinHasher`, from raw text) vs
     datasketch `MinHash(256, seed=1).update_batch` per document over the same word 5-gram
     shingles (its default sha1 hash; texts normalised for it beforehand, untimed).
     Interleaved repeats, best of each. Prints docs/s, MB/s and the ratio.
  2. end to end, `--workers` processes: our `dedup` stage (minhash only, 256 permutations,
     19 bands × 13 rows, 5-grams) through `run_job` on a running local Ray vs datatrove's
     MinhashDedupSignature → Buckets → Cluster → Filter with the same bands, rows, n-grams
     and seed on its LocalPipelineExecutor. Prints wall time, removed documents, the ratio.

    python -m benchmarks.dedup [--corpora DIR] [--repeats 3] [--workers 2] [--shards 4]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder leads sys.path and its name would hide the `dedup` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from dedup.hashing import normalise
from dedup.minhash import MinHasher, shingle_batch, shingles
from pipeline.cluster import ray_session
from pipeline.config import ExecutionConfig
from support.corpora import CORPORA
from support.datatrove_minhash import minhash_steps, run_steps

NUM_PERM, BANDS, ROWS, NGRAM, SEED = 256, 19, 13, 5, 1


def corpus(corpora: Path, words: int = 200) -> list[dict]:
    rng = random.Random(6)
    pieces = []
    for name in ("wikitext-2-valid.txt", "wikitext-2-test.txt"):
        text = (corpora / "text" / name).read_text(encoding="utf-8")
        for article in re.split(r"^ = [^=].* = \s*$", text, flags=re.MULTILINE):
            body = article.split()
            pieces += [body[i : i + words] for i in range(0, len(body) - words + 1, words)]
    documents = [{"id": f"doc-{n}", "text": " ".join(p)} for n, p in enumerate(pieces)]
    vocabulary = [w for p in pieces[:50] for w in p]
    for n, piece in enumerate(rng.sample(pieces, len(pieces) // 4)):
        rate = (0.0, 0.01, 0.5)[n % 3]
        copy = list(piece)
        for position in rng.sample(range(len(copy)), round(rate * len(copy))):
            copy[position] = rng.choice(vocabulary)
        documents.append({"id": f"copy-{n}", "text": " ".join(copy)})
    rng.shuffle(documents)
    return documents


def ours_signatures(texts: list[str]) -> float:
    hasher = MinHasher(NUM_PERM, SEED)
    started = time.perf_counter()
    for start in range(0, len(texts), 512):
        batch = pa.array(texts[start : start + 512])
        hasher.signatures(shingle_batch(batch, NGRAM), len(batch))
    return time.perf_counter() - started


def datasketch_signatures(normalised: list[str]) -> float:
    from datasketch import MinHash

    started = time.perf_counter()
    for text in normalised:
        minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
        minhash.update_batch([s.encode() for s in shingles(text, NGRAM)])
    return time.perf_counter() - started


def ours_end_to_end(folder: Path, workers: int) -> tuple[float, int]:
    from pipeline.config import validate_config
    from pipeline.plan import run_job

    config = validate_config(
        {
            "name": "bench",
            "output": str(folder / "ours"),
            "inputs": [
                {"source": "wiki", "format": "parquet", "paths": [str(folder / "in/*.parquet")]}
            ],
            "stages": [{"dedup": {"exact": False, "minhash": {"bands": BANDS, "rows": ROWS}}}],
            "execution": {"workers": workers},
        }
    )
    started = time.perf_counter()
    summary = run_job(config, fresh=True, console=Console(quiet=True))
    elapsed = time.perf_counter() - started
    dedup = next(s for s in summary.report["funnel"] if s["stage"] == "dedup")
    return elapsed, sum(dedup["removed"].values())


def datatrove_end_to_end(folder: Path, workers: int, shards: int) -> tuple[float, int]:
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    work = folder / "datatrove"
    shutil.rmtree(work, ignore_errors=True)  # it skips tasks its logs say are done
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, seed=SEED)
    removed_writer = ParquetWriter(str(work / "removed"))
    steps = minhash_steps(ParquetReader(str(folder / "in")), work, config, shards, removed_writer)
    started = time.perf_counter()
    run_steps(steps, workers, work)
    elapsed = time.perf_counter() - started
    removed = sum(pq.read_metadata(p).num_rows for p in (work / "removed").glob("*.parquet"))
    return elapsed, removed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--repeats", type=int, default=3, help="signature repeats (best of)")
    parser.add_argument("--e2e-repeats", type=int, default=2, help="end-to-end repeats (best of)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4, help="input files for the end to end")
    args = parser.parse_args()
    console = Console()
    documents = corpus(args.corpora)
    texts = [d["text"] for d in documents]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    console.print(f"{len(texts):,} documents, {megabytes:.1f} MB of text")

    normalised = normalise(pa.array(texts)).to_pylist()
    timings: dict[str, list[float]] = {"tokenmill": [], "datasketch": []}
    for repeat in range(args.repeats):
        console.print(f"signatures, repeat {repeat + 1}/{args.repeats} ...")
        timings["tokenmill"].append(ours_signatures(texts))
        timings["datasketch"].append(datasketch_signatures(normalised))
    table = Table(
        title=f"MinHash signatures ({NUM_PERM} permutations, word {NGRAM}-grams), one process"
    )
    for column in ("", "docs/s", "MB/s", "vs datasketch"):
        table.add_column(column, justify="right")
    reference = min(timings["datasketch"])
    for name, values in timings.items():
        best = min(values)
        table.add_row(
            name, f"{len(texts) / best:,.0f}", f"{megabytes / best:.2f}", f"{reference / best:.1f}×"
        )
    console.print(table)

    with ray_session(ExecutionConfig(workers=args.workers)), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        for shard in range(args.shards):
            part = pa.Table.from_pylist(documents[shard :: args.shards])
            pq.write_table(part, folder / "in" / f"part-{shard}.parquet")
        results: dict[str, list[tuple[float, int]]] = {"tokenmill (Ray)": [], "datatrove": []}
        for repeat in range(args.e2e_repeats):
            console.print(f"end to end, repeat {repeat + 1}/{args.e2e_repeats} ...")
            results["tokenmill (Ray)"].append(ours_end_to_end(folder, args.workers))
            results["datatrove"].append(datatrove_end_to_end(folder, args.workers, args.shards))
    table = Table(
        title=f"End-to-end MinHash dedup, {args.workers} workers, {args.shards} input files"
    )
    for column in ("", "wall s", "removed", "time vs datatrove"):
        table.add_column(column, justify="right")
    reference = min(r[0] for r in results["datatrove"])
    for name, runs in results.items():
        best = min(runs)
        table.add_row(name, f"{best[0]:.1f}", f"{best[1]:,}", f"{best[0] / reference:.2f}×")
    console.print(table)
    console.print(
        "(Ray was started before timing, as on a cluster; datatrove's pool starts per step)"
    )


if __name__ == "__main__":
    main()
