"""Perplexity and quality-classifier scoring throughput: ours vs CCNet's and DCLM's loops.

The trafilatura evaluation WARC is extracted once (our `extract` stage, resiliparse) into
Parquet; every contender then scores the same documents with the same models (the shipped
data/models ones unless given):
  - reference, perplexity: CCNet's way, one document at a time in Python: split into
    lines, `text_normalizer.normalize` each (re-stated here in plain Python), then
    `kenlm.Model.score` per line, length-weighted into the document's perplexity;
  - reference, classifier: DCLM's way, `fasttext` `model.predict(" ".join(lines))` per
    document;
  - ours, one worker: the `perplexity` / `classifier` stage over Arrow batches of 512;
  - ours, 2 Ray workers: a whole `tokenmill run` with that one stage over the Parquet split
    into 4 shards (reading and writing Parquet included), on an already started local Ray.
Contenders alternate for `--rounds` rounds in one process; the best round counts.

    python -m benchmarks.model_quality [WARC] [--lm MODEL] [--classifier MODEL] [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from filters.classifier import Classifier
from filters.lm_text import UNICODE_PUNCT
from filters.perplexity import Perplexity
from pipeline.cluster import ray_session
from pipeline.config import ExecutionConfig, validate_config
from pipeline.plan import run_job
from support.corpora import EVAL_WARC
from support.extracted_pages import extracted_pages

ROOT = Path(__file__).resolve().parents[1]
BATCH = 512


# CCNet's cc_net/text_normalizer.py normalize(), as its perplexity step calls it.
DIGITS = re.compile(r"\d")
PUNCT = {variant: ascii for ascii, variants in UNICODE_PUNCT.items() for variant in variants}
NON_PRINTING = re.compile(f"[{''.join(map(chr, [*range(32), *range(127, 160)]))}]")


def ccnet_normalize(line: str) -> str:
    line = line.strip().lower()
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = DIGITS.sub("0", line)
    line = "".join(PUNCT.get(c, c) for c in line)
    return NON_PRINTING.sub("", line)


def ccnet_loop(model_path: str, texts: list[str]) -> None:
    import kenlm

    model = kenlm.Model(model_path)
    for text in texts:
        log_score, length = 0.0, 0
        for line in text.split("\n"):
            line = ccnet_normalize(line)
            log_score += model.score(line)
            length += len(line.split()) + 1
        _ = round(10.0 ** (-log_score / length), 1)


def dclm_loop(model_path: str, texts: list[str]) -> None:
    import fasttext

    model = fasttext.load_model(model_path)
    for text in texts:
        labels, probabilities = model.predict(" ".join(text.strip().splitlines()))
        _ = probabilities[0] if labels[0] == "__label__hq" else 1 - probabilities[0]


def one_worker(stage, table: pa.Table) -> None:
    for start in range(0, table.num_rows, BATCH):
        stage.process(table.slice(start, BATCH))


def ray_run(stage: dict, shards: list[Path], output: Path) -> None:
    inputs = [{"source": "web", "format": "parquet", "paths": [str(p) for p in shards]}]
    config = validate_config(
        {"name": "bench", "output": str(output), "inputs": inputs, "stages": [stage]}
        | {"execution": {"workers": 2}}
    )
    run_job(config, fresh=True, console=Console(quiet=True))


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("warc", nargs="?", type=Path, default=EVAL_WARC)
    parser.add_argument("--lm", type=Path, default=ROOT / "data/models/wiki-en.binary")
    parser.add_argument("--classifier", type=Path, default=ROOT / "data/models/quality.ftz")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with console.status("extracting the WARC"):
        table = extracted_pages(args.warc, "resiliparse").select(["id", "text"])
    texts = table["text"].to_pylist()
    lm, classifier = str(args.lm.resolve()), str(args.classifier.resolve())
    stages = {
        "perplexity": {"perplexity": {"model": lm}},
        "classifier": {"classifier": {"model": classifier}},
    }
    with tempfile.TemporaryDirectory() as work:
        shards = [Path(work) / f"pages-{n}.parquet" for n in range(4)]
        quarter = -(-table.num_rows // 4)
        for n, shard in enumerate(shards):
            pq.write_table(table.slice(n * quarter, quarter), shard)
        contenders = {
            ("perplexity", "CCNet loop (kenlm)"): lambda: ccnet_loop(lm, texts),
            ("perplexity", "ours, 1 worker"): lambda: one_worker(
                Perplexity(Perplexity.Params(model=lm)), table
            ),
            ("perplexity", "ours, 2 Ray workers"): lambda: ray_run(
                stages["perplexity"], shards, Path(work) / "out"
            ),
            ("classifier", "DCLM loop (fasttext)"): lambda: dclm_loop(classifier, texts),
            ("classifier", "ours, 1 worker"): lambda: one_worker(
                Classifier(Classifier.Params(model=classifier)), table
            ),
            ("classifier", "ours, 2 Ray workers"): lambda: ray_run(
                stages["classifier"], shards, Path(work) / "out"
            ),
        }
        best: dict[tuple[str, str], float] = {}
        with ray_session(ExecutionConfig(workers=2, object_store_mb=256)):
            for round_ in range(args.rounds):
                for key, run in contenders.items():
                    console.print(f"round {round_ + 1}: {key[0]}, {key[1]}")
                    best[key] = min(best.get(key, float("inf")), timed(run))
    report = Table(title=f"scoring {len(texts)} extracted pages of {args.warc.name}")
    for column in ("scores", "contender", "best s", "docs/s", "× reference"):
        report.add_column(column, justify="left" if column in ("scores", "contender") else "right")
    for (scores, name), seconds in best.items():
        reference = next(s for (kind, n), s in best.items() if kind == scores and "loop" in n)
        report.add_row(
            scores,
            name,
            f"{seconds:.2f}",
            f"{len(texts) / seconds:.0f}",
            f"{reference / seconds:.2f}",
        )
    console.print(report)


if __name__ == "__main__":
    main()
