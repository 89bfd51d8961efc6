"""The tokens phases: after OUT/documents is final, build OUT/tokenizer/ and OUT/tokens/.

Phases, each recorded in OUT/_state/phases/ with a digest of what decides it, so a rerun
skips finished ones and a changed config redoes only what it changes:

1. `tokenizer`: train (a Ray task) or load, save OUT/tokenizer/tokenizer.json.
2. `encode`: one Ray task per documents shard encodes it, splits off validation and
   returns token counts by source (mixing.count).
3. `mixture`: the plan from those counts (mixing.mixture), in the driver.
4. `shuffle`: scatter and gather Ray tasks write the training shards (mixing.shuffle),
   then OUT/tokens/manifest.json.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from rich.console import Console
from tokenizers import Tokenizer

from mixing.count import EncodeJob, EncodeResult, encode_shard
from mixing.mixture import SourceCounts, SourcePlan, plan_mixture
from mixing.shuffle import ScatterResult, ShuffleJob, gather, scatter
from pipeline.config import JobConfig
from pipeline.faults import kill_point
from pipeline.state import RunState
from pipeline.stats import StageStats
from pipeline.tasks import run_tasks
from tokenizer.bpe import fingerprint, load_tokenizer
from tokenizer.shards import TOKEN_SCHEMA, TOKENS_SCHEMA_VERSION
from tokenizer.special import SPECIAL_TOKENS
from tokenizer.training import train_on_documents

# Defined once, so Ray exports each function once per job rather than once per phase run.
_TRAIN = ray.remote(num_cpus=1)(train_on_documents)
_ENCODE = ray.remote(num_cpus=1, max_retries=1)(encode_shard)
_SCATTER = ray.remote(num_cpus=1, max_retries=1)(scatter)
_GATHER = ray.remote(num_cpus=1, max_retries=1)(gather)


@dataclass
class TokensResult:
    funnel: StageStats
    """The `mixture` entry of the run's funnel."""
    manifest: dict[str, Any]
    """OUT/tokens/manifest.json."""


def build_tokens(
    config: JobConfig,
    state: RunState,
    documents: dict[str, dict],
    workers: Callable[[], int],
    console: Console,
) -> TokensResult | None:
    """Run the phases that are not finished; None when the config asks for no tokens.

    `documents`: the run's documents shards (name in OUT/documents/ → what the run recorded
    writing it: each is checked against it before it is read). `workers()` starts Ray on
    first call (only a phase with work to do calls it) and says how many tasks to run at once.
    """
    if config.mixture is None and config.tokenizer is None:
        return None
    output = state.output
    tokenizer_json = _tokenizer_phase(config, output, state, documents, workers, console)
    if config.mixture is None:
        return None
    encoded = _encode_phase(config, output, state, documents, workers, tokenizer_json, console)
    kill_point("driver.tokens")
    plans = _mixture_phase(config, state, encoded)
    _shuffle_phase(config, output, state, workers, encoded, plans, console)
    return TokensResult(
        funnel=StageStats.from_json(state.phase("shuffle")["funnel"]),
        manifest=output.read_json("tokens", "manifest.json"),
    )


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _finished(state: RunState, name: str, digest: str) -> dict | None:
    record = state.phase(name)
    return record if record and record.get("digest") == digest else None


def _tokenizer_phase(config, output, state, documents, workers, console) -> str:
    spec = config.tokenizer_config()
    loaded = load_tokenizer(spec.path) if spec.path is not None else None
    loaded_sha256 = fingerprint(loaded) if loaded else None
    digest = _digest(loaded_sha256 or [state.digest, spec.model_dump(mode="json")])
    if _finished(state, "tokenizer", digest) and output.exists("tokenizer", "tokenizer.json"):
        with output.fs.open(output.path("tokenizer", "tokenizer.json"), "r") as handle:
            return handle.read()
    if loaded is not None:
        tokenizer = loaded
    else:
        workers()
        console.print(f"training a {spec.train.vocab_size:,}-token byte-level BPE tokenizer")
        tokenizer = Tokenizer.from_str(ray.get(_TRAIN.remote(output.url, documents, spec.train)))
    text = tokenizer.to_str(pretty=True)
    with output.atomic("tokenizer", "tokenizer.json") as handle:
        handle.write(text.encode())
    state.record_phase(
        "tokenizer",
        {
            "digest": digest,
            "sha256": loaded_sha256 or fingerprint(tokenizer),
            "vocab_size": tokenizer.get_vocab_size(),
        },
    )
    return text


def _encode_phase(config, output, state, documents, workers, tokenizer_json, console) -> dict:
    mixture = config.mixture
    tokenizer = state.phase("tokenizer")["sha256"]
    digest = _digest(state.digest, tokenizer, mixture.seed, mixture.validation)
    if done := _finished(state, "encode", digest):
        return done
    for folder in (("tokens",), ("_state", "tokens")):
        output.remove(*folder)
    shards = sorted(documents)
    parallel = workers()
    job = ray.put(
        EncodeJob(
            output.url,
            tokenizer_json,
            mixture.seed,
            mixture.validation,
            config.execution.batch_size,
        )
    )
    results: list[EncodeResult] = run_tasks(
        [(_ENCODE, (name, documents[name], job)) for name in shards], parallel, "encode", console
    )
    counts: dict[str, SourceCounts] = {}
    errored: Counter[str] = Counter()
    for result in results:
        errored.update(result.errored)
        for source, entry in result.counts.items():
            counts.setdefault(source, SourceCounts()).merge(entry)
    record = {
        "digest": digest,
        "documents": sum(r.documents for r in results),
        "errored": dict(errored),
        "counts": {source: counts[source].to_json() for source in sorted(counts)},
        "val_shards": sorted(
            (r.val_shard for r in results if r.val_shard), key=lambda s: s["path"]
        ),
        "staged": shards,
    }
    state.record_phase("encode", record)
    return record


def _mixture_phase(config, state, encoded) -> list[SourcePlan]:
    digest = _digest(encoded["digest"], config.mixture.model_dump(mode="json"))
    if done := _finished(state, "mixture", digest):
        return [SourcePlan.from_json(p) for p in done["sources"]]
    counts = {source: SourceCounts.from_json(c) for source, c in encoded["counts"].items()}
    plans = plan_mixture(config.mixture, counts)
    state.record_phase("mixture", {"digest": digest, "sources": [p.to_json() for p in plans]})
    return plans


def _shuffle_phase(config, output, state, workers, encoded, plans, console) -> None:
    digest = _digest(state.phase("mixture")["digest"], config.mixture.shard_tokens)
    if _finished(state, "shuffle", digest):
        return
    output.remove("_state", "tokens", "scatter")
    for name in output.list("tokens", suffix=".parquet"):
        output.remove("tokens", name)
    total = sum(p.realised_tokens for p in plans)
    job = ShuffleJob(
        output=output.url,
        plans={p.source: p for p in plans},
        shards=max(1, math.ceil(total / config.mixture.shard_tokens)),
        batch_size=config.execution.batch_size,
    )
    parallel = workers()
    job_ref = ray.put(job)
    scattered: list[ScatterResult] = run_tasks(
        [(_SCATTER, (name, job_ref)) for name in encoded["staged"]],
        parallel,
        "scatter",
        console,
    )
    written = run_tasks(
        [(_GATHER, (shard, job_ref)) for shard in range(job.shards)],
        parallel,
        "shuffle",
        console,
    )
    output.remove("_state", "tokens", "scatter")
    documents: Counter[str] = Counter()
    for result in scattered:
        documents.update(result.documents)
    train_shards = [s for s in written if s is not None]
    funnel = mixture_funnel(encoded, plans, documents)
    manifest = tokens_manifest(config, state, encoded, plans, train_shards, documents)
    output.write_json(manifest, "tokens", "manifest.json")
    state.record_phase("shuffle", {"digest": digest, "funnel": funnel.to_json()})


def mixture_funnel(encoded: dict, plans: list[SourcePlan], documents: Counter[str]) -> StageStats:
    """The mixture's funnel entry: documents in, validation + kept training documents out."""
    val = sum(c["val_documents"] for c in encoded["counts"].values())
    kept = sum(documents[f"{p.source}.kept"] for p in plans)
    rows = sum(documents[f"{p.source}.rows"] for p in plans)
    stats = StageStats(docs_in=encoded["documents"], kept=val + kept)
    stats.errored.update(encoded["errored"])
    stats.errored = +stats.errored
    downsampled = sum(documents[f"{p.source}.in"] for p in plans) - kept
    if downsampled:
        stats.removed["downsampled"] = downsampled
    stats.counters.update(
        {
            "validation_documents": val,
            "copies_added": rows - kept,
            "train_rows": rows,
            "train_tokens": sum(p.realised_tokens for p in plans),
            "val_tokens": sum(c["val_tokens"] for c in encoded["counts"].values()),
        }
    )
    return stats


def tokens_manifest(config, state, encoded, plans, train_shards, documents) -> dict[str, Any]:
    tokenizer = state.phase("tokenizer")
    train_tokens = sum(s["tokens"] for s in train_shards) or 1
    val_shards = encoded["val_shards"]
    counts = encoded["counts"]
    return {
        "schema_version": TOKENS_SCHEMA_VERSION,
        "columns": {field.name: str(field.type) for field in TOKEN_SCHEMA},
        "tokenizer": {
            "path": "../tokenizer/tokenizer.json",
            "sha256": tokenizer["sha256"],
            "vocab_size": tokenizer["vocab_size"],
            "special_tokens": {token: index for index, token in enumerate(SPECIAL_TOKENS)},
        },
        "config_sha256": config.digest(),
        "mixture_config": config.mixture.model_dump(mode="json"),
        "shards": train_shards + val_shards,
        "train": _split_summary(train_shards),
        "val": _split_summary(val_shards),
        "mixture": [
            {
                "source": p.source,
                "requested_share": round(p.requested_share, 6),
                "realised_share": round(p.realised_tokens / train_tokens, 6),
                "requested_epochs": round(p.requested_epochs, 6),
                "realised_epochs": round(p.realised_tokens / max(p.available_tokens, 1), 6),
                "available_documents": p.available_documents,
                "available_tokens": p.available_tokens,
                "documents": documents[f"{p.source}.kept"],
                "downsampled": documents[f"{p.source}.in"] - documents[f"{p.source}.kept"],
                "copies_added": documents[f"{p.source}.rows"] - documents[f"{p.source}.kept"],
                "rows": documents[f"{p.source}.rows"],
                "tokens": p.realised_tokens,
                "val_documents": counts[p.source]["val_documents"],
                "val_tokens": counts[p.source]["val_tokens"],
            }
            for p in plans
        ],
    }


def _split_summary(shards: list[dict]) -> dict[str, Any]:
    tokens_by_source: Counter[str] = Counter()
    rows_by_source: Counter[str] = Counter()
    for shard in shards:
        tokens_by_source.update(shard["tokens_by_source"])
        rows_by_source.update(shard["rows_by_source"])
    return {
        "rows": sum(s["rows"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "tokens_by_source": dict(sorted(tokens_by_source.items())),
        "rows_by_source": dict(sorted(rows_by_source.items())),
        "shards": len(shards),
    }
