"""Bad input raises a clear error naming the op and the argument, before any work is done."""
import pytest
import torch

import handgrad.functional as F

x = torch.randn(4, 3)
labels = torch.tensor([0, 1, 2, 1])

BAD_CALLS = [
    ("wrong feature count", lambda: F.linear(torch.randn(2, 63), torch.randn(5, 64)), ValueError,
     "linear: input has 63 features, weight expects 64"),
    ("input not a tensor", lambda: F.linear([[1.0]], torch.randn(1, 1)), TypeError, "linear: input must be a torch.Tensor"),
    ("weight not 2-d", lambda: F.linear(x, torch.randn(3)), ValueError, "linear: weight must be 2-d"),
    ("bias shape", lambda: F.linear(x, torch.randn(5, 3), torch.randn(4)), ValueError, "linear: bias must have shape (5,)"),
    ("dtype mismatch", lambda: F.linear(x, torch.randn(5, 3, dtype=torch.float64)), TypeError, "linear: weight has dtype"),
    ("integer input", lambda: F.sigmoid(torch.tensor([1, 2])), TypeError, "sigmoid: input must be a floating-point"),
    ("slope not a number", lambda: F.leaky_relu(x, "0.1"), TypeError, "leaky_relu: negative_slope must be a real number"),
    ("slope a bool", lambda: F.leaky_relu(x, True), TypeError, "leaky_relu: negative_slope must be a real number"),
    ("inplace relu", lambda: F.relu(x, inplace=True), ValueError, "relu: inplace=True is not supported"),
    ("softmax dim missing", lambda: F.softmax(x), TypeError, "softmax: dim is required"),
    ("softmax dim out of range", lambda: F.log_softmax(x, 2), IndexError, "log_softmax: dim must be in [-2, 1]"),
    ("unknown reduction", lambda: F.mse_loss(x, x, reduction="avg"), ValueError,
     "mse_loss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("mse target shape", lambda: F.mse_loss(x, torch.randn(3)), ValueError, "mse_loss: target must have the same shape"),
    ("ce target dtype", lambda: F.cross_entropy(x, torch.tensor([0.0, 1.0, 2.0, 1.0])), ValueError,
     "cross_entropy: target must have the same shape as input"),
    ("ce target shape", lambda: F.cross_entropy(x, torch.tensor([0, 1])), ValueError,
     "cross_entropy: target of class indices must have shape (4,)"),
    ("ce class out of range", lambda: F.cross_entropy(x, torch.tensor([0, 3, 1, 1])), IndexError,
     "cross_entropy: target holds class index 3, expected indices in [0, 3)"),
    ("ce negative class", lambda: F.cross_entropy(x, torch.tensor([0, -1, 1, 1])), IndexError,
     "target holds class index -1"),
    ("ce bool target", lambda: F.cross_entropy(x, torch.tensor([True, False, True, True])), TypeError,
     "class-index target must be an integer tensor"),
    ("ce weight shape", lambda: F.cross_entropy(x, labels, weight=torch.ones(4)), ValueError,
     "cross_entropy: weight must have shape (3,)"),
    ("ce label smoothing", lambda: F.cross_entropy(x, labels, label_smoothing=1.5), ValueError,
     "label_smoothing must be in [0, 1]"),
    ("ce (N, C, d) target shape", lambda: F.cross_entropy(torch.randn(2, 3, 4), labels), ValueError,
     "cross_entropy: target of class indices must have shape (2, 4) for input (2, 3, 4), got (4,)"),
    ("ce 0-d input", lambda: F.cross_entropy(torch.tensor(1.0), labels), ValueError,
     "cross_entropy: input must be (N, C), (C,) or (N, C, d1, ..., dK), got a 0-d tensor"),
    ("nll ignore_index type", lambda: F.nll_loss(x, labels, ignore_index=1.5), TypeError,
     "nll_loss: ignore_index must be an int"),
    ("nll class out of range", lambda: F.nll_loss(x, torch.tensor([0, 1, 2, 7])), IndexError,
     "nll_loss: target holds class index 7"),
    ("bce probability above 1", lambda: F.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.tensor([0.0, 1.0])),
     ValueError, "binary_cross_entropy: input must hold probabilities in [0, 1]"),
    ("bce probability below 0", lambda: F.binary_cross_entropy(torch.tensor([-0.1, 0.5]), torch.tensor([0.0, 1.0])),
     ValueError, "got values in [-0.1"),
    ("bce weight shape", lambda: F.binary_cross_entropy(torch.rand(4, 3), torch.rand(4, 3), weight=torch.ones(2)),
     ValueError, "binary_cross_entropy: weight of shape (2,) does not broadcast"),
    ("bce logits pos_weight", lambda: F.binary_cross_entropy_with_logits(x, torch.rand(4, 3),
                                                                          pos_weight=torch.ones(5)),
     ValueError, "binary_cross_entropy_with_logits: pos_weight of shape (5,)"),
    ("deprecated size_average", lambda: F.mse_loss(x, x, size_average=True), ValueError, "use reduction= instead"),
    ("weight needing grad", lambda: F.nll_loss(x, labels, weight=torch.ones(3, requires_grad=True)), ValueError,
     "nll_loss: weight requires grad, but handgrad treats weight as a constant"),
    ("dense_stack layer sizes", lambda: F.dense_stack(x, [torch.randn(5, 4)], [torch.randn(5)]), ValueError,
     "dense_stack: layer 0 expects 3 input features"),
    ("dense_stack activation", lambda: F.dense_stack(x, [torch.randn(5, 3)], [torch.randn(5)], "gelu"), ValueError,
     "dense_stack: activation must be one of"),
]


@pytest.mark.parametrize("name, call, error, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_errors_come_before_any_work():
    weight = torch.randn(5, 64, requires_grad=True)
    with pytest.raises(ValueError):
        F.linear(torch.randn(2, 63), weight)
    assert weight.grad is None
