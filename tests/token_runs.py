"""Write a pipeline run's token output (DESIGN.md's contract) from texts, for trainer tests.

A real byte-level BPE (HF tokenizers) with the fixed special ids, and token shards plus a
manifest with per-shard sha256, the way the tokens stage lays them out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from trainer.data import sha256_file

SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def _shard(rows: list[tuple[str, str, list[int]]]) -> pa.Table:
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "copy": pa.array([0] * len(rows), pa.int32()),
            "source": [r[1] for r in rows],
            "input_ids": pa.array([r[2] for r in rows], pa.list_(pa.int32())),
            "num_tokens": pa.array([len(r[2]) for r in rows], pa.int64()),
        }
    )


def write_token_run(
    out: Path,
    train: dict[str, list[str]],
    val: dict[str, list[str]],
    vocab_size: int = 512,
    shards: int = 2,
) -> Path:
    """OUT/tokenizer/tokenizer.json, OUT/tokens/{*,val/*}.parquet and OUT/tokens/manifest.json."""
    texts = [t for docs in train.values() for t in docs]
    tokenizer = train_tokenizer(texts, vocab_size)
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
    entries = []
    for index, part in enumerate(np.array_split(order, shards)):
        path = tokens / f"{index:05d}.parquet"
        pq.write_table(_shard([train_rows[i] for i in part]), path)
        entries.append({"path": path.name, "split": "train"})
    pq.write_table(_shard(rows(val)), tokens / "val" / "00000.parquet")
    entries.append({"path": "val/00000.parquet", "split": "val"})
    for entry in entries:
        path = tokens / entry["path"]
        entry["num_tokens"] = int(pq.read_table(path, columns=["num_tokens"])[0].to_numpy().sum())
        entry["sha256"] = sha256_file(path)
    (tokens / "manifest.json").write_text(json.dumps({"shards": entries}, indent=2))
    return out


WIKITEXT_JOINS = [
    (" @-@ ", "-"),
    (" @,@ ", ","),
    (" @.@ ", "."),
    (" ,", ","),
    (" .", "."),
    (" ;", ";"),
    (" :", ":"),
    (" 's", "'s"),
    ("( ", "("),
    (" )", ")"),
]


def detokenize_wikitext(text: str) -> str:
    """Undo WikiText's tokenisation (` @-@ `, spaces before punctuation) for natural text."""
    for tokenized, plain in WIKITEXT_JOINS:
        text = text.replace(tokenized, plain)
    return text
