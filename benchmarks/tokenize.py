"""Tokenize throughput: raw `Tokenizer.encode_batch` (the ceiling) vs tokenmill's tokenize step.

The same documents and the same trained byte-level BPE for every contender, all with
RAYON_NUM_THREADS=1 so one worker is one core:
  - ceiling: `Tokenizer.encode_batch` over the texts, already in memory, in this process,
  - encode, 1 process: our encode step (`pipeline.phases.encode.encode_shard`: read the documents'
    Parquet, encode, frame with bos/eos, split off validation, write token Parquet) run
    in this process over every shard,
  - ceiling, 2 processes: the same call in two processes, half the texts each: how far
    two cores of this machine scale at best (Ray's own processes share them too),
  - phases, Ray 1 / 2 workers: the whole tokens build (encode, mixture plan, scatter,
    gather with the global shuffle, manifest) on a local Ray with 1 or 2 CPUs.
Contenders run interleaved, round after round, so machine load hits them alike; each
reports its best round. Throughput is in document tokens (bos/eos not counted) per second
of wall time; for the two in-process contenders also per CPU second of this process, which
a machine shared with other jobs does not inflate.

    python -m benchmarks.tokenize [--copies N] [--shards N] [--rounds N]

(as a module: run as a script, this file would shadow the standard library's `tokenize`)
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from pipeline.checksums import describe_file
from pipeline.cluster import ray_session
from pipeline.config import ExecutionConfig, validate_config
from pipeline.documents import conform, document_schema
from pipeline.output import RunOutput
from pipeline.phases.encode import EncodeJob, encode_shard
from pipeline.phases.tokens import build_tokens
from pipeline.state import RunState
from tokenizer.bpe import train_bpe

ROOT = Path(__file__).resolve().parents[1]
WIKITEXT = ROOT.parent / "shared" / "corpora" / "text"
HEADING = re.compile(r"^ = [^=].* = $", re.MULTILINE)


def articles() -> list[str]:
    """WikiText-2 articles from the shared corpora, else the bundled sample's wiki pages."""
    files = sorted(WIKITEXT.glob("wikitext-2-*.txt"))
    if not files:
        import json

        sample = ROOT / "data" / "sample" / "wiki.jsonl"
        return [json.loads(line)["text"] for line in sample.open(encoding="utf-8")]
    texts = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        starts = [m.start() for m in HEADING.finditer(text)] + [len(text)]
        texts.extend(text[a:b].strip() for a, b in itertools.pairwise(starts))
    return [t for t in texts if t]


def write_documents(folder: Path, texts: list[str], copies: int, shards: int) -> None:
    schema = document_schema([])
    documents = [(f"doc-{c}-{i}", t) for c in range(copies) for i, t in enumerate(texts)]
    for shard in range(shards):
        part = documents[shard::shards]
        table = pa.table(
            {
                "id": [d[0] for d in part],
                "text": [d[1] for d in part],
                "source": ["wiki"] * len(part),
            }
        )
        (folder / "documents").mkdir(parents=True, exist_ok=True)
        pq.write_table(conform(table, schema), folder / "documents" / f"wiki-{shard:05d}.parquet")


class Clock:
    """Wall time, and this process's CPU time (what a loaded machine does not inflate)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()


def ceiling(tokenizer, texts: list[str], batch_size: int) -> tuple[int, Clock]:
    tokens = 0
    with Clock() as clock:
        for start in range(0, len(texts), batch_size):
            encodings = tokenizer.encode_batch(texts[start : start + batch_size])
            tokens += sum(len(e.ids) for e in encodings)
    return tokens, clock


_POOL_TOKENIZER = None


def _load_tokenizer(tokenizer_json: str) -> None:
    global _POOL_TOKENIZER
    from tokenizers import Tokenizer

    _POOL_TOKENIZER = Tokenizer.from_str(tokenizer_json)


def _encode_part(texts: list[str], batch_size: int) -> None:
    for start in range(0, len(texts), batch_size):
        _POOL_TOKENIZER.encode_batch(texts[start : start + batch_size])


def ceiling_two_processes(tokenizer_json: str, texts: list[str], batch_size: int) -> Clock:
    """The raw call in two processes, half the documents each: what two cores allow at best."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, context, _load_tokenizer, (tokenizer_json,)) as pool:
        list(pool.map(time.sleep, [1, 1]))  # both processes started and loaded
        with Clock() as clock:
            list(pool.map(_encode_part, [texts[0::2], texts[1::2]], [batch_size] * 2))
    clock.cpu = float("nan")
    return clock


def config_for(out: Path, tokenizer_path: Path, shard_tokens: int):
    return validate_config(
        {
            "name": "bench",
            "output": str(out),
            "inputs": [{"source": "wiki", "format": "parquet", "paths": ["unused"]}],
            "tokenizer": {"path": str(tokenizer_path)},
            "mixture": {"validation": 0.01, "shard_tokens": shard_tokens},
        }
    )


def encode_in_process(base: Path, out: Path, tokenizer_json: str, batch_size: int) -> Clock:
    fresh_output(base, out)
    job = EncodeJob(str(out), tokenizer_json, 0, 0.01, batch_size)
    documents = documents_of(out)
    with Clock() as clock:
        for name, recorded in documents.items():
            encode_shard(name, recorded, job)
    return clock


def phases_on_ray(base: Path, out: Path, config, workers: int) -> Clock:
    fresh_output(base, out)
    state = RunState.open(RunOutput(str(out)), config)
    documents = documents_of(out)
    with Clock() as clock:
        build_tokens(config, state, documents, lambda: workers, Console(stderr=True, quiet=True))
    clock.cpu = float("nan")  # the work is in the Ray workers, not this process
    return clock


def documents_of(out: Path) -> dict[str, dict]:
    """The documents shards as a run records them (name → size, date, sha256)."""
    return {p.name: describe_file(str(p)) for p in sorted((out / "documents").glob("*.parquet"))}


def fresh_output(base: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "documents").symlink_to(base / "documents")


def main() -> None:
    # before tokenizers first starts its thread pool; Ray's workers inherit it
    os.environ["RAYON_NUM_THREADS"] = "1"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="repeat the articles N times")
    parser.add_argument("--shards", type=int, default=8, help="documents shards")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--vocab-size", type=int, default=8192)
    args = parser.parse_args()
    console = Console()

    work = Path(tempfile.mkdtemp(prefix="tokenize-bench-"))
    texts = articles()
    write_documents(work / "base", texts, args.copies, args.shards)
    tokenizer = train_bpe(texts, args.vocab_size)
    tokenizer_path = work / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    corpus = [t for _ in range(args.copies) for t in texts]
    tokens = ceiling(tokenizer, corpus, args.batch_size)[0]
    # as many output shards as input shards, so neither phase leaves a worker idle at the end
    config = config_for(work / "ray", tokenizer_path, shard_tokens=-(-tokens // args.shards))
    console.print(
        f"{len(corpus):,} documents, {sum(map(len, corpus)) / 1e6:.1f} MB, {tokens:,} tokens, "
        f"{args.shards} shards, vocab {args.vocab_size:,}, RAYON_NUM_THREADS=1"
    )

    best: dict[str, Clock] = {}

    def record(name: str, clock: Clock) -> None:
        if name not in best or clock.wall < best[name].wall:
            best[name] = clock

    for round_ in range(args.rounds):
        record("ceiling: encode_batch", ceiling(tokenizer, corpus, args.batch_size)[1])
        record(
            "ceiling: encode_batch, 2 processes",
            ceiling_two_processes(tokenizer.to_str(), corpus, args.batch_size),
        )
        record(
            "ours: encode step, 1 process",
            encode_in_process(work / "base", work / "one", tokenizer.to_str(), args.batch_size),
        )
        for workers in (1, 2):
            with ray_session(ExecutionConfig(workers=workers)):
                phases_on_ray(work / "base", work / "ray", config, workers)  # warm the workers
                record(
                    f"ours: all phases, Ray {workers} worker{'s' * (workers > 1)}",
                    phases_on_ray(work / "base", work / "ray", config, workers),
                )
        console.print(f"round {round_ + 1} of {args.rounds} done")

    top = best["ceiling: encode_batch"]
    # the scaling column: each two-core contender against its one-core self
    single = {
        "ceiling: encode_batch, 2 processes": "ceiling: encode_batch",
        "ours: all phases, Ray 1 worker": "ours: all phases, Ray 1 worker",
        "ours: all phases, Ray 2 workers": "ours: all phases, Ray 1 worker",
    }
    table = Table(title="tokenize throughput (best round by wall time)")
    columns = (
        "contender",
        "wall s",
        "tokens/s",
        "vs ceiling",
        "CPU s",
        "CPU vs ceiling",
        "vs 1 core",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, clock in best.items():
        in_process = clock.cpu == clock.cpu
        table.add_row(
            name,
            f"{clock.wall:.2f}",
            f"{tokens / clock.wall:,.0f}",
            f"{top.wall / clock.wall:.0%}",
            f"{clock.cpu:.2f}" if in_process else "",
            f"{top.cpu / clock.cpu:.0%}" if in_process else "",
            f"{best[single[name]].wall / clock.wall:.2f}x" if name in single else "",
        )
    console.print(table)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
