"""A trained model's loss on held-out documents: what `tokenmill ablate` compares variants by.

Each document is scored on its own (no other document's tokens as context), every token
after its leading bos once, the eos included: summed in nats, so that the caller can divide
by tokens (a loss per token, comparable under one tokenizer) or by the text's UTF-8 bytes
(bits per byte, comparable across tokenizers). A document longer than the window is cut
into windows of `seq_len` predicted tokens; each window's first token is the last one the
window before predicted, so no token is predicted twice or skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from trainer.chat import PAD_ID
from trainer.loss import token_logprobs


def document_windows(
    documents: Sequence[np.ndarray], seq_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(windows, counted): each document (bos … eos) as rows of `seq_len + 1` tokens padded
    with `<|pad|>`, and which of each row's `seq_len` targets are the document's own."""
    rows, counted = [], []
    for ids in documents:
        for start in range(0, len(ids) - 1, seq_len):
            window = ids[start : start + seq_len + 1]
            row = np.full(seq_len + 1, PAD_ID, np.int64)
            row[: len(window)] = window
            mask = np.zeros(seq_len, bool)
            mask[: len(window) - 1] = True
            rows.append(row)
            counted.append(mask)
    if not rows:  # np.stack needs one
        rows, counted = [np.zeros((0, seq_len + 1), np.int64)], [np.zeros((0, seq_len), bool)]
    return torch.from_numpy(np.vstack(rows)), torch.from_numpy(np.vstack(counted))


@torch.no_grad()
def summed_loss(
    model: nn.Module, documents: Sequence[np.ndarray], seq_len: int, batch_size: int = 16
) -> tuple[float, int]:
    """(−Σ log p over every predicted token in nats, how many tokens were predicted)."""
    windows, counted = document_windows(documents, seq_len)
    if not len(windows):
        return 0.0, 0
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    for tokens, mask in zip(windows.split(batch_size), counted.split(batch_size), strict=True):
        tokens, mask = tokens.to(device), mask.to(device)
        hidden = model(tokens[:, :-1])
        logprobs = token_logprobs(
            hidden.flatten(0, 1), model.lm_head.weight, tokens[:, 1:].flatten()
        )
        total -= logprobs[mask.flatten()].double().sum()
    return total.item(), int(counted.sum())
