"""Batch encoding of documents into `<|bos|>` + ids + `<|eos|>` Arrow lists."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer

from trainer.chat import BOS_ID, EOS_ID

TOKEN_LIST = pa.list_(pa.int32())


def one_thread_per_task() -> None:
    """Make tokenizers use one thread in this Ray worker, as Ray accounts one CPU per task.

    Rayon reads RAYON_NUM_THREADS when its pool first starts, so this must run before the
    process first encodes or trains; every tokenizers task calls it first.
    """
    os.environ["RAYON_NUM_THREADS"] = "1"


def encode_documents(tokenizer: Tokenizer, texts: pa.Array) -> pa.ListArray:
    """One list<int32> per text, framed by bos and eos.

    `encode_batch_fast` encodes the batch in parallel (Rayon threads) and skips the
    character offsets nobody here reads; the framing is done on the flat id buffer.
    """
    encodings = tokenizer.encode_batch_fast(texts.to_pylist(), add_special_tokens=False)
    bodies = pa.array([e.ids for e in encodings], TOKEN_LIST)
    body_offsets = bodies.offsets.to_numpy()
    offsets = body_offsets + 2 * np.arange(len(body_offsets), dtype=np.int32)
    values = np.empty(offsets[-1], np.int32)
    starts, ends = offsets[:-1], offsets[1:] - 1
    values[starts] = BOS_ID
    values[ends] = EOS_ID
    inside = np.ones(len(values), bool)
    inside[starts] = inside[ends] = False
    values[inside] = bodies.values.to_numpy()
    return pa.ListArray.from_arrays(offsets, values)
