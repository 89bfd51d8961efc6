"""Scoring held-out text, as `tokenmill ablate` scores each checkpoint, vs transformers.

One process, the same weights, documents and windows for both (each document alone, in
windows of `--seq-len` targets that overlap by one token, batches of 16 windows):
  - ours: `trainer.evaluate.summed_loss` (the trainer's model, log-probabilities of the
    targets computed a chunk of rows at a time),
  - reference: `LlamaForCausalLM` holding the same weights (the names `tokenmill export`
    gives them), each batch's loss from `labels=` with the padding at -100, as
    lm-evaluation-harness's rolling log-likelihood scores a document.
The model is the preset with random weights (speed does not depend on training); the
documents are WikiText-2's test articles, encoded with a BPE trained on its validation split.
Rounds alternate which goes first. Prints tokens/s, the ratio, and how far apart the two
results are in bits per byte.

    python -m benchmarks.evaluate [--preset small] [--documents 20] [--seq-len 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import re
import time
from itertools import pairwise

import numpy as np
import pyarrow as pa
import torch
from rich.console import Console
from rich.table import Table

from support.corpora import CORPORA
from tokenizer.bpe import for_documents, train_bpe
from tokenizer.encode import encode_documents
from trainer.evaluate import document_windows, summed_loss
from trainer.export import hf_config, hf_weights
from trainer.model import Transformer
from trainer.model_args import preset

BATCH = 16
HEADING = re.compile(r"^ = [^=].* = $", re.MULTILINE)


def articles(name: str) -> list[str]:
    text = (CORPORA / "text" / name).read_text(encoding="utf-8")
    starts = [match.start() for match in HEADING.finditer(text)] + [len(text)]
    return [text[a:b].strip() for a, b in pairwise(starts)]


@torch.no_grad()
def reference_nats(model, documents: list[np.ndarray], seq_len: int) -> float:
    windows, counted = document_windows(documents, seq_len)
    total = 0.0
    for tokens, mask in zip(windows.split(BATCH), counted.split(BATCH), strict=True):
        labels = tokens.clone()
        labels[:, 1:][~mask] = -100
        loss = model(input_ids=tokens, labels=labels).loss
        total += loss.item() * int(mask.sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = for_documents(
        train_bpe(articles("wikitext-2-valid.txt"), args.vocab_size), "benchmark"
    )
    texts = articles("wikitext-2-test.txt")[: args.documents]
    encoded = encode_documents(tokenizer, pa.array(texts))
    offsets, values = encoded.offsets.to_numpy(), encoded.values.to_numpy()
    documents = [values[a:b] for a, b in pairwise(offsets)]
    text_bytes = sum(len(text.encode()) for text in texts)
    tokens = sum(len(ids) - 1 for ids in documents)

    torch.manual_seed(0)
    model_args = preset(
        args.preset, vocab_size=tokenizer.get_vocab_size(), max_seq_len=args.seq_len
    )
    ours = Transformer(model_args).eval()
    theirs = LlamaForCausalLM(LlamaConfig(**hf_config(model_args)))
    theirs.load_state_dict(hf_weights(ours, model_args), strict=False)
    theirs.eval()

    seconds = {"ours": [], "transformers": []}
    nats = {}
    for round_ in range(args.rounds):
        order = ["ours", "transformers"][:: 1 if round_ % 2 == 0 else -1]
        for name in order:
            started = time.perf_counter()
            if name == "ours":
                nats[name] = summed_loss(ours, documents, args.seq_len, BATCH)[0]
            else:
                nats[name] = reference_nats(theirs, documents, args.seq_len)
            seconds[name].append(time.perf_counter() - started)

    table = Table(
        title=f"held-out scoring: {len(documents)} WikiText-2 articles, {tokens:,} tokens, "
        f"{text_bytes:,} bytes; {args.preset} preset, windows of {args.seq_len}, "
        f"{args.threads} thread(s)"
    )
    for column in ("", "best s", "tokens/s", "bits/byte"):
        table.add_column(column, justify="right" if column else "left")
    for name in ("ours", "transformers"):
        best = min(seconds[name])
        bpb = nats[name] / math.log(2) / text_bytes
        table.add_row(name, f"{best:.2f}", f"{tokens / best:,.0f}", f"{bpb:.6f}")
    console = Console()
    console.print(table)
    ratio = min(seconds["transformers"]) / min(seconds["ours"])
    gap = abs(nats["ours"] - nats["transformers"]) / math.log(2) / text_bytes
    console.print(f"ours is {ratio:.2f}× transformers; the results differ by {gap:.2e} bits/byte")


if __name__ == "__main__":
    main()
