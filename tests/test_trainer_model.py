"""The model alone: incremental decoding with a KV cache, and positions beyond max_seq_len."""

from __future__ import annotations

import pytest
import torch

from trainer.model import KVCache, Transformer
from trainer.model_args import preset


def small_model() -> Transformer:
    torch.manual_seed(0)
    args = preset("tiny", vocab_size=97, max_seq_len=16)
    return Transformer(args).eval()


@torch.no_grad()
def test_tokens_appended_to_a_cache_several_at_a_time_match_one_pass():
    """A prefill of 5, then 3 tokens at once, then 1: each appended token sees the cache and
    the new tokens before it (a bottom-right causal mask), as in one pass over all 9."""
    model = small_model()
    tokens = torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(1))
    whole = model.logits(tokens)
    cache = KVCache(model.args, 2, 9, torch.float32, torch.device("cpu"))
    pieces = [model.logits(tokens[:, a:b], cache) for a, b in [(0, 5), (5, 8), (8, 9)]]
    diff = (torch.cat(pieces, dim=1) - whole).abs().max().item()
    print(f"max abs logit difference, cached vs one pass: {diff:.2e}")
    assert diff < 1e-5


def test_more_positions_than_max_seq_len_is_a_clear_error():
    model = small_model()
    with pytest.raises(ValueError, match="17 positions: more than the model's max_seq_len 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    cache = KVCache(model.args, 1, 16, torch.float32, torch.device("cpu"))
    with torch.no_grad():
        model(torch.zeros(1, 15, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="17 positions"):
            model(torch.zeros(1, 2, dtype=torch.long), cache)
