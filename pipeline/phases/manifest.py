"""What the tokens phases report: OUT/tokens/manifest.json (shards, tokens per source,
requested and realised mixture, tokenizer) and the `mixture` entry of the run's funnel."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mixing.mixture import SourcePlan
from pipeline.config import JobConfig
from pipeline.phases.encode import EncodeSummary
from pipeline.phases.tokenizer import TokenizerSummary
from pipeline.stats import StageStats
from tokenizer.shards import TOKEN_SCHEMA, TOKENS_SCHEMA_VERSION
from trainer.chat import SPECIAL_TOKENS


def mixture_funnel(
    encoded: EncodeSummary, plans: list[SourcePlan], documents: Counter[str]
) -> StageStats:
    """The mixture's funnel entry: documents in, validation + kept training documents out."""
    val = sum(c["val_documents"] for c in encoded.counts.values())
    kept = sum(documents[f"{p.source}.kept"] for p in plans)
    rows = sum(documents[f"{p.source}.rows"] for p in plans)
    stats = StageStats(docs_in=encoded.documents, kept=val + kept)
    stats.errored.update(encoded.errored)
    downsampled = sum(documents[f"{p.source}.in"] for p in plans) - kept
    if downsampled:
        stats.removed["downsampled"] = downsampled
    stats.counters.update(
        {
            "validation_documents": val,
            "copies_added": rows - kept,
            "train_rows": rows,
            "train_tokens": sum(p.realised_tokens for p in plans),
            "val_tokens": sum(c["val_tokens"] for c in encoded.counts.values()),
        }
    )
    return stats


def tokens_manifest(
    config: JobConfig,
    tokenizer: TokenizerSummary,
    encoded: EncodeSummary,
    plans: list[SourcePlan],
    train_shards: list[dict],
    documents: Counter[str],
) -> dict[str, Any]:
    """OUT/tokens/manifest.json."""
    train_tokens = sum(s["tokens"] for s in train_shards) or 1
    val_shards = encoded.val_shards
    counts = encoded.counts
    return {
        "schema_version": TOKENS_SCHEMA_VERSION,
        "columns": {field.name: str(field.type) for field in TOKEN_SCHEMA},
        "tokenizer": {
            "path": "../tokenizer/tokenizer.json",
            "sha256": tokenizer.sha256,
            "vocab_size": tokenizer.vocab_size,
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
                "requested_tokens": round(p.requested_epochs * p.available_tokens),
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
