"""Write a pipeline run's token output (DESIGN.md's contract) from texts, for trainer tests.

A real byte-level BPE (HF tokenizers) with the fixed special ids, and token shards plus a
manifest with per-shard sha256, the way the tokens stage lays them out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer

from tokenizer.bpe import train_bpe
from tokenizer.shards import write_token_table


def _shard(rows: list[tuple[str, str, list[int]]], path: Path) -> str:
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "copy": [0] * len(rows),
            "source": [r[1] for r in rows],
            "input_ids": [r[2] for r in rows],
            "num_tokens": [len(r[2]) for r in rows],
        }
    )
    with open(path, "wb") as sink:
        return write_token_table(table, sink)


def write_token_run(
    out: Path,
    train: dict[str, list[str]],
    val: dict[str, list[str]],
    vocab_size: int = 512,
    shards: int = 2,
    tokenizer: Tokenizer | None = None,
) -> Path:
    """OUT/tokenizer/tokenizer.json, OUT/tokens/{*,val/*}.parquet and OUT/tokens/manifest.json,
    with `tokenizer` or a BPE of `vocab_size` trained on the training texts."""
    if tokenizer is None:
        tokenizer = train_bpe([t for docs in train.values() for t in docs], vocab_size)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer" / "tokenizer.json"))
    tokens = out / "tokens"
    (tokens / "val").mkdir(parents=True, exist_ok=True)

    def rows(split: dict[str, list[str]]) -> list[tuple[str, str, list[int]]]:
        return [
            (f"{source}-{i}", source, [1, *enc.ids, 2])
            for source, docs in split.items()
            for i, enc in enumerate(tokenizer.encode_batch(docs))
        ]

    train_rows = rows(train)
    order = np.random.default_rng(0).permutation(len(train_rows))
    parts = {
        f"train-{index:05d}.parquet": [train_rows[i] for i in part]
        for index, part in enumerate(np.array_split(order, shards))
    }
    parts["val/00000.parquet"] = rows(val)
    entries = [
        {
            "path": path,
            "split": "val" if path.startswith("val/") else "train",
            "tokens": sum(len(row[2]) for row in part),
            "sha256": _shard(part, tokens / path),
        }
        for path, part in parts.items()
    ]
    (tokens / "manifest.json").write_text(
        json.dumps({"shards": entries}, indent=2), encoding="utf-8"
    )
    return out
