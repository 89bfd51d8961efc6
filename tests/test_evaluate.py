"""The held-out loss `tokenmill ablate` compares by, against a plain per-document forward."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainer.evaluate import document_windows, summed_loss
from trainer.model import Transformer
from trainer.model_args import preset

SEQ_LEN = 8


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    model = Transformer(preset("tiny", vocab_size=97, max_seq_len=64))
    for parameter in model.parameters():  # away from the near-uniform start, so losses differ
        parameter.data.normal_(0, 0.3)
    return model.eval()


def documents(lengths: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [
        np.concatenate([[1], rng.integers(7, 97, length - 2), [2]]).astype(np.int32)
        for length in lengths
    ]


def reference_loss(model: Transformer, docs: list[np.ndarray], seq_len: int) -> float:
    """Each document alone, in consecutive pieces of `seq_len` targets, with F.cross_entropy."""
    total = 0.0
    with torch.no_grad():
        for ids in docs:
            ids = torch.from_numpy(ids.astype(np.int64))
            for start in range(0, len(ids) - 1, seq_len):
                inputs = ids[start : start + seq_len].unsqueeze(0)
                targets = ids[start + 1 : start + seq_len + 1]
                inputs = inputs[:, : len(targets)]
                logits = model(inputs)[0] @ model.lm_head.weight.T
                total += F.cross_entropy(logits.double(), targets, reduction="sum").item()
    return total


def test_every_token_after_each_bos_is_predicted_once_from_its_own_document():
    model = tiny_model()
    docs = documents([3, 8, 9, 10, 17, 30])  # shorter than, equal to and several windows
    nats, tokens = summed_loss(model, docs, SEQ_LEN, batch_size=4)
    assert tokens == sum(len(ids) - 1 for ids in docs)
    assert abs(nats - reference_loss(model, docs, SEQ_LEN)) < 1e-3


def test_a_document_scores_the_same_alone_and_beside_others():
    model = tiny_model()
    docs = documents([5, 26, 12])
    alone = sum(summed_loss(model, [ids], SEQ_LEN)[0] for ids in docs)
    together, _ = summed_loss(model, docs, SEQ_LEN, batch_size=3)
    assert abs(alone - together) < 1e-3


def test_windows_overlap_by_one_token_and_pad_the_last():
    (ids,) = documents([12])
    windows, counted = document_windows([ids], SEQ_LEN)
    assert windows.shape == (2, SEQ_LEN + 1)
    assert windows[0].tolist() == ids[:9].tolist()
    assert windows[1, :4].tolist() == ids[8:].tolist() and windows[1, 4:].eq(0).all()
    assert counted.sum(1).tolist() == [8, 3]


def test_no_documents_is_no_tokens():
    assert summed_loss(tiny_model(), [], SEQ_LEN) == (0.0, 0)
