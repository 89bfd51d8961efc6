"""Batched generation with a KV cache: left padding, per-row positions and stopping, the
sampled tokens' log-probabilities, against the model run step by step without a cache."""

from __future__ import annotations

import torch

from trainer.generate import Sampling, generate_batch, sample_next
from trainer.model import KVCache, Transformer
from trainer.model_args import preset

VOCAB = 61


def model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(preset("tiny", vocab_size=VOCAB, max_seq_len=64)).eval()


def prompts() -> list[list[int]]:
    generator = torch.Generator().manual_seed(3)
    return [torch.randint(7, VOCAB, (n,), generator=generator).tolist() for n in (9, 2, 5, 1)]


@torch.no_grad()
def greedy_uncached(net: Transformer, ids: list[int], new: int, stop: tuple[int, ...]):
    """One sequence, one token at a time, the whole sequence through the model each time."""
    ids, out, logprobs = list(ids), [], []
    for _ in range(new):
        logits = net.logits(torch.tensor([ids]))[0, -1]
        token = int(logits.argmax())
        out.append(token)
        logprobs.append(float(logits.log_softmax(-1)[token]))
        if token in stop:
            break
        ids.append(token)
    return out, logprobs


def test_batched_cached_greedy_generation_equals_step_by_step_uncached_generation():
    net, batch = model(), prompts()
    free = generate_batch(net, batch, Sampling(12, temperature=0, stop=()))
    # Stop at a token that some rows sample early and others never: rows stop on their own.
    stop = (int(free.tokens[0, 2]),)
    # Two samples of each prompt, its prefill computed once and shared: rows 2i and 2i + 1.
    done = generate_batch(net, batch, Sampling(12, temperature=0, stop=stop), group=2)
    assert not done.stopped.all() and done.stopped.any()
    for row, ids in enumerate(ids for ids in batch for _ in range(2)):
        expected, logprobs = greedy_uncached(net, ids, 12, stop)
        length = int(done.lengths[row])
        assert done.tokens[row, :length].tolist() == expected
        assert bool(done.stopped[row]) == (expected[-1] in stop)
        torch.testing.assert_close(
            done.logprobs[row, :length], torch.tensor(logprobs), rtol=0, atol=1e-5
        )
        assert (done.tokens[row, length:] == 0).all() and (done.logprobs[row, length:] == 0).all()


@torch.no_grad()
def test_several_tokens_appended_to_a_left_padded_cache_match_each_row_alone():
    """A left-padded prefill, then 3 tokens at once, then 1: each row's logits are those of
    its own tokens in one pass, at its own positions, never seeing the padding."""
    net, batch = model(), prompts()
    width = max(map(len, batch))
    appended = torch.randint(7, VOCAB, (len(batch), 4), generator=torch.Generator().manual_seed(5))
    padded = torch.zeros(len(batch), width, dtype=torch.long)
    for row, ids in enumerate(batch):
        padded[row, width - len(ids) :] = torch.tensor(ids)
    pad = torch.tensor([width - len(ids) for ids in batch])
    cache = KVCache(net.args, len(batch), width + 4, torch.float32, torch.device("cpu"), pad=pad)
    first = net.logits(padded, cache)
    pieces = [net.logits(appended[:, a:b], cache) for a, b in [(0, 3), (3, 4)]]
    worst = 0.0
    for row, ids in enumerate(batch):
        alone = net.logits(torch.tensor([ids + appended[row].tolist()]))[0]
        cached = torch.cat([first[row, width - len(ids) :], *(p[row] for p in pieces)])
        worst = max(worst, (cached - alone).abs().max().item())
    print(f"max abs logit difference, left-padded cache vs each row alone: {worst:.2e}")
    assert worst < 1e-5


def test_sampling_is_seeded_and_reports_the_sampled_tokens_log_probabilities():
    net, batch = model(), prompts()
    sampling = Sampling(8, temperature=1.0, top_p=0.9, stop=())
    runs = [
        generate_batch(net, batch, sampling, torch.Generator().manual_seed(s)) for s in (1, 1, 2)
    ]
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    assert not torch.equal(runs[0].tokens, runs[2].tokens)
    done = runs[0]
    with torch.no_grad():
        for row, ids in enumerate(batch):
            sequence = torch.tensor([ids + done.tokens[row].tolist()])
            logps = net.logits(sequence)[0, len(ids) - 1 : -1].log_softmax(-1)
            expected = logps.gather(1, done.tokens[row, :, None]).squeeze(1)
            torch.testing.assert_close(done.logprobs[row], expected, rtol=0, atol=1e-5)


def test_top_p_zero_and_a_vanishing_temperature_sample_the_greedy_token():
    logits = torch.randn(6, VOCAB, generator=torch.Generator().manual_seed(4)) * 8
    greedy = logits.argmax(-1)
    for temperature, top_p in ((1.0, 0.0), (1e-300, 1.0), (1e-300, 0.5), (1e-6, 0.0)):
        sampled = sample_next(logits, temperature, top_p, torch.Generator().manual_seed(0))
        assert torch.equal(sampled, greedy), (temperature, top_p)


def test_a_model_cast_for_inference_keeps_its_rope_tables_in_fp32():
    net = model().cast(torch.bfloat16)
    assert net.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert net.rope_cos.dtype == net.rope_sin.dtype == torch.float32
    done = generate_batch(net, prompts(), Sampling(4, temperature=0, stop=()))
    assert done.tokens.shape == (4, 4) and done.logprobs.dtype == torch.float32
