"""The fused, chunked cross-entropy equals the plain one in value and gradients."""

import pytest
import torch
import torch.nn.functional as F

from trainer import loss
from trainer.loss import linear_cross_entropy


def plain(hidden, weight, targets, z_loss):
    logits = hidden @ weight.T
    value = F.cross_entropy(logits, targets)
    return value + z_loss * torch.logsumexp(logits, -1).pow(2).mean()


@pytest.mark.parametrize("z_loss", [0.0, 1e-3])
def test_matches_plain_cross_entropy_across_chunks(monkeypatch, z_loss):
    monkeypatch.setitem(loss.CHUNK_ELEMENTS, "cpu", 300 * 64)  # 64 rows a chunk: 1000 rows → 16
    torch.manual_seed(0)
    hidden = torch.randn(1000, 32, requires_grad=True)
    weight = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, 300, (1000,))
    expected = plain(hidden, weight, targets, z_loss)
    expected_grads = torch.autograd.grad(expected, (hidden, weight))
    got = linear_cross_entropy(hidden, weight, targets, z_loss)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-5)
    for ours, theirs in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_bf16_autocast_matches_plain_cross_entropy():
    """Matmuls in bf16 as autocast does for a linear layer; softmax and loss in fp32."""
    torch.manual_seed(0)
    hidden = torch.randn(200, 32, requires_grad=True)
    weight = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, 300, (200,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(hidden, weight, targets)
        expected = F.cross_entropy((hidden @ weight.T).float(), targets)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    expected_grads = torch.autograd.grad(expected, (hidden, weight))
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)
    for ours, theirs in zip(got_grads, expected_grads, strict=True):
        assert ours.dtype == theirs.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, rtol=2e-2, atol=2e-3)


def test_rows_whose_target_probability_underflows_keep_their_loss():
    torch.manual_seed(0)
    hidden, weight = torch.randn(8, 8), torch.randn(50, 8) * 100  # logit gaps far beyond 87
    targets = torch.randint(0, 50, (8,))
    got = linear_cross_entropy(hidden, weight, targets)
    assert torch.isfinite(got)
    torch.testing.assert_close(got, plain(hidden, weight, targets, 0.0))


def test_no_grad_needs_no_graph():
    with torch.no_grad():
        value = linear_cross_entropy(
            torch.randn(4, 8, requires_grad=True), torch.randn(20, 8), torch.tensor([1, 2, 3, 4])
        )
    assert not value.requires_grad


def test_token_logprobs_and_their_per_token_weighted_gradients(monkeypatch):
    """log p(target) per token; the backward takes a weight per token (as DPO and GRPO do)."""
    from trainer.loss import token_logprobs

    monkeypatch.setitem(loss.CHUNK_ELEMENTS, "cpu", 300 * 64)
    torch.manual_seed(0)
    hidden = torch.randn(500, 32, requires_grad=True)
    weight = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, 300, (500,))
    per_token = torch.randn(500)
    expected = torch.log_softmax(hidden @ weight.T, -1).gather(1, targets[:, None]).squeeze(1)
    expected_grads = torch.autograd.grad((expected * per_token).sum(), (hidden, weight))
    got = token_logprobs(hidden, weight, targets)
    got_grads = torch.autograd.grad((got * per_token).sum(), (hidden, weight))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_bf16_logits_give_the_loss_of_plain_cross_entropy_over_them():
    """bf16 inputs (FSDP2's param dtype): the loss is cross-entropy over the bf16 logits
    computed in fp32, the gradients those of that loss; no fp32 copy of the logits needed."""
    torch.manual_seed(0)
    hidden = torch.randn(200, 32).bfloat16().requires_grad_()
    weight = torch.randn(300, 32).bfloat16().requires_grad_()
    targets = torch.randint(0, 300, (200,))
    got = linear_cross_entropy(hidden, weight, targets)
    expected = F.cross_entropy((hidden @ weight.T).float(), targets)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    got_grads = torch.autograd.grad(got, (hidden, weight))
    expected_grads = torch.autograd.grad(expected, (hidden, weight))
    for ours, theirs in zip(got_grads, expected_grads, strict=True):
        assert ours.dtype == torch.bfloat16
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=2e-2, atol=1e-4)


def test_a_frozen_head_gets_no_gradient_and_the_hidden_states_theirs():
    torch.manual_seed(0)
    hidden = torch.randn(100, 16, requires_grad=True)
    weight = torch.randn(50, 16)  # frozen
    targets = torch.randint(0, 50, (100,))
    linear_cross_entropy(hidden, weight, targets).backward()
    expected = torch.autograd.grad(plain(hidden, weight, targets, 0.0), hidden)[0]
    torch.testing.assert_close(hidden.grad, expected)
    assert weight.grad is None


def test_the_whole_model_and_loss_compile_without_graph_breaks():
    """No data-dependent branch (`.any()`) in the loss: one graph, no device-to-host sync."""
    from trainer.model import Transformer
    from trainer.model_args import preset

    model = Transformer(preset("tiny", vocab_size=300, max_seq_len=64))
    tokens = torch.randint(0, 300, (2, 33))

    def step(tokens):
        hidden = model(tokens[:, :-1])
        return linear_cross_entropy(
            hidden.flatten(0, 1), model.lm_head.weight, tokens[:, 1:].flatten()
        )

    torch._dynamo.reset()
    explanation = torch._dynamo.explain(step)(tokens)
    print(f"graph breaks: {explanation.graph_break_count}")
    assert explanation.graph_break_count == 0
