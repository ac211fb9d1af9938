"""torch's remaining argument forms and edge cases: torch's result, gradients included.

Empty inputs (a batch of 0 rows, 0 input features, an empty batch in batch norm's training,
every row of a cost ignored) and the argument forms torch's functional ops take besides an int
or a pair (a one-element tuple or list for a kernel, stride, padding or dilation). The
(N, C, d1, ..., dK) form of cross_entropy and nll_loss is in the catalogue.
"""
import pytest
import torch
import torch.nn.functional as TF

import handgrad.functional as HF

D = dict(dtype=torch.float64)


def leaf(*shape):
    return torch.randn(*shape, **D, generator=torch.Generator().manual_seed(sum(shape))).requires_grad_()


def assert_like_torch(handgrad_call, torch_call, inputs):
    """Same output and same gradient for every input, NaN where torch gives NaN."""
    out, expected = handgrad_call(*inputs), torch_call(*inputs)
    torch.testing.assert_close(out, expected, equal_nan=True)
    upstream = torch.ones_like(expected)
    grads = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
    expected_grads = torch.autograd.grad(expected, inputs, upstream, allow_unused=True)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, equal_nan=True)


WEIGHT, BIAS = leaf(4, 3), leaf(4)
EMPTY_TARGETS = torch.zeros(0, dtype=torch.long)
ALL_IGNORED = torch.full((3,), -100)

CASES = {
    "linear, batch of 0 rows": (lambda x, w, b: HF.linear(x, w, b), TF.linear, (leaf(0, 3), WEIGHT, BIAS)),
    "linear, 0 input features": (lambda x, w, b: HF.linear(x, w, b), TF.linear, (leaf(2, 0), leaf(4, 0), BIAS)),
    "linear, 1-d input of 0 features": (lambda x, w: HF.linear(x, w), TF.linear, (leaf(0), leaf(4, 0))),
    "dense_stack, batch of 0 rows": (lambda x: HF.dense_stack(x, [WEIGHT], [BIAS]), lambda x: TF.linear(x, WEIGHT, BIAS),
                                     (leaf(0, 3),)),
    "softmax, batch of 0 rows": (lambda x: HF.softmax(x, 1), lambda x: TF.softmax(x, 1), (leaf(0, 3),)),
    "layer_norm, batch of 0 rows": (lambda x: HF.layer_norm(x, (3,)), lambda x: TF.layer_norm(x, (3,)), (leaf(0, 3),)),
    "conv2d, batch of 0 images": (lambda x, w: HF.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
                                  (leaf(0, 3, 4, 4), leaf(2, 3, 3, 3))),
    "avg_pool2d, padding as a 1-tuple": (lambda x: HF.avg_pool2d(x, 2, padding=(1,)),
                                         lambda x: TF.avg_pool2d(x, 2, padding=(1,)), (leaf(2, 3, 5, 5),)),
    "max_pool2d, kernel and stride as 1-tuples": (lambda x: HF.max_pool2d(x, (3,), stride=[2]),
                                                  lambda x: TF.max_pool2d(x, (3,), stride=[2]), (leaf(2, 3, 7, 7),)),
    "conv2d, stride, padding, dilation as 1-tuples": (
        lambda x, w: HF.conv2d(x, w, stride=(2,), padding=[1], dilation=(1,)),
        lambda x, w: TF.conv2d(x, w, stride=(2,), padding=[1], dilation=(1,)), (leaf(2, 3, 6, 6), leaf(2, 3, 3, 3))),
}
for reduction in ("mean", "sum", "none"):
    CASES |= {
        f"cross_entropy, 0 rows, {reduction}": (lambda x, r=reduction: HF.cross_entropy(x, EMPTY_TARGETS, reduction=r),
                                                lambda x, r=reduction: TF.cross_entropy(x, EMPTY_TARGETS, reduction=r),
                                                (leaf(0, 3),)),
        f"cross_entropy, (0, C, d) rows, {reduction}": (
            lambda x, r=reduction: HF.cross_entropy(x, EMPTY_TARGETS.reshape(0, 2), reduction=r),
            lambda x, r=reduction: TF.cross_entropy(x, EMPTY_TARGETS.reshape(0, 2), reduction=r), (leaf(0, 3, 2),)),
        f"nll_loss, every row ignored, {reduction}": (lambda x, r=reduction: HF.nll_loss(x, ALL_IGNORED, reduction=r),
                                                      lambda x, r=reduction: TF.nll_loss(x, ALL_IGNORED, reduction=r),
                                                      (leaf(3, 4),)),
        f"cross_entropy, every row ignored, {reduction}": (
            lambda x, r=reduction: HF.cross_entropy(x, ALL_IGNORED, reduction=r, label_smoothing=0.1),
            lambda x, r=reduction: TF.cross_entropy(x, ALL_IGNORED, reduction=r, label_smoothing=0.1), (leaf(3, 4),)),
        f"mse_loss, 0 rows, {reduction}": (lambda x, t, r=reduction: HF.mse_loss(x, t, reduction=r),
                                           lambda x, t, r=reduction: TF.mse_loss(x, t, reduction=r),
                                           (leaf(0, 3), leaf(0, 3))),
        f"bce_with_logits, 0 rows, {reduction}": (
            lambda x, t, r=reduction: HF.binary_cross_entropy_with_logits(x, t, reduction=r),
            lambda x, t, r=reduction: TF.binary_cross_entropy_with_logits(x, t, reduction=r), (leaf(0, 3), leaf(0, 3))),
    }


@pytest.mark.parametrize("name", CASES)
def test_gives_torchs_result(name):
    handgrad_call, torch_call, inputs = CASES[name]
    assert_like_torch(handgrad_call, torch_call, inputs)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 2, 2)])
def test_batch_norm_of_an_empty_batch(shape, training):
    """torch returns an empty output, zero parameter gradients, and leaves the running statistics."""
    stats = [torch.zeros(3, **D), torch.ones(3, **D)]
    torch_stats = [s.clone() for s in stats]
    weight, bias = leaf(3), leaf(3)
    assert_like_torch(lambda x, w, b: HF.batch_norm(x, *stats, w, b, training=training),
                      lambda x, w, b: TF.batch_norm(x, *torch_stats, w, b, training=training), (leaf(*shape), weight, bias))
    assert all(torch.equal(s, t) for s, t in zip(stats, torch_stats))
