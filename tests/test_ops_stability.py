"""Numerically safe where torch is: extreme logits, saturated sigmoids, probabilities of exactly 0 and 1."""
import pytest
import torch
import torch.nn.functional as TF

import handgrad.functional as HF
from helpers import forward_and_grads, fresh


def assert_same_finite_values(hg, th, args):
    out, grads = forward_and_grads(hg, fresh(args))
    expected_out, expected_grads = forward_and_grads(th, fresh(args))
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(out, expected_out)
    for grad, expected in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected)


def logits(scale=1e4):
    return (torch.tensor([[1.0, -1.0, 0.5], [-1.0, 0.25, 1.0]]) * scale).requires_grad_()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_and_log_softmax_with_huge_logits(dtype):
    x = logits().to(dtype).detach().requires_grad_()
    target = torch.tensor([1, 0])
    assert_same_finite_values(HF.cross_entropy, TF.cross_entropy, (x, target))
    assert_same_finite_values(lambda a: HF.cross_entropy(a, target, label_smoothing=0.1),
                              lambda a: TF.cross_entropy(a, target, label_smoothing=0.1), (x,))
    assert_same_finite_values(lambda a: HF.log_softmax(a, 1), lambda a: TF.log_softmax(a, 1), (x,))
    assert_same_finite_values(lambda a: HF.softmax(a, 1), lambda a: TF.softmax(a, 1), (x,))


def test_sigmoid_at_plus_minus_100():
    x = torch.tensor([-100.0, -50.0, 0.0, 50.0, 100.0], requires_grad=True)
    assert_same_finite_values(HF.sigmoid, torch.sigmoid, (x,))
    assert_same_finite_values(HF.tanh, torch.tanh, (x,))


def test_binary_cross_entropy_with_probabilities_exactly_0_and_1():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5], requires_grad=True)
    t = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    for reduction in ("mean", "sum", "none"):
        assert_same_finite_values(lambda a, r=reduction: HF.binary_cross_entropy(a, t, reduction=r),
                                  lambda a, r=reduction: TF.binary_cross_entropy(a, t, reduction=r), (p,))
    loss = HF.binary_cross_entropy(p, t, reduction="none")
    assert loss[2] == 100 and loss[3] == 100  # log clamped at -100, as torch does


def test_bce_with_logits_at_plus_minus_100():
    x = torch.tensor([-100.0, 100.0, -100.0, 100.0], requires_grad=True)
    t = torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert_same_finite_values(HF.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, (x, t))
    pos_weight = torch.tensor([2.0, 2.0, 2.0, 2.0])
    assert_same_finite_values(lambda a, b: HF.binary_cross_entropy_with_logits(a, b, pos_weight=pos_weight),
                              lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=pos_weight), (x, t))
