"""Conv, pooling, dropout and normalization beyond the catalogue: argument errors, batch
norm's running statistics, dropout's mask, eval mode, and module init / state_dict parity."""
import re

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings

import handgrad.functional as HF
import handgrad.nn as hnn
from catalogue import CASES
from helpers import forward_and_grads, fresh
from strategies import shapes

CONV_FAMILY = [c for c in CASES if c.name.split("[")[0] in
               ("conv2d", "max_pool2d", "avg_pool2d", "dropout", "layer_norm", "batch_norm")]


def randn(*shape, dtype=torch.float64, grad=False):
    return torch.randn(*shape, dtype=dtype).requires_grad_(grad)


# ---------------------------------------------------------------- parity on drawn shapes

@pytest.mark.parametrize("case", CONV_FAMILY, ids=repr)
@settings(max_examples=4)
@given(shape=shapes())
def test_forward_and_gradients_match_torch_on_drawn_shapes(case, shape):
    """The catalogue's parity test uses two fixed shapes; here Hypothesis draws kernels and sizes."""
    args = case.make(shape, torch.float64)
    out, grads = forward_and_grads(case.handgrad, fresh(args))
    expected_out, expected_grads = forward_and_grads(case.torch, fresh(args))
    torch.testing.assert_close(out, expected_out, rtol=1e-10, atol=1e-12)
    for grad, expected in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_conv2d_second_derivatives_match_torch_and_stay_in_handgrad():
    x, w, b = randn(2, 4, 7, 6, grad=True), randn(6, 2, 3, 2, grad=True), randn(6, grad=True)
    options = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    upstream = randn(2, 6, 4, 6)
    results = []
    for conv in (HF.conv2d, TF.conv2d):
        grad_x, grad_w = torch.autograd.grad(conv(x, w, b, **options), (x, w), upstream, create_graph=True)
        results.append((grad_x, grad_w, *torch.autograd.grad((grad_x.square().sum() + grad_w.square().sum()), (x, w))))
    # the first derivatives are handgrad's own Functions, so double backward runs through handgrad's rules
    assert type(results[0][0].grad_fn).__name__ == "ConvTranspose2dFunctionBackward"
    assert type(results[0][1].grad_fn).__name__ == "Conv2dWeightFunctionBackward"
    for ours, torchs in zip(*results):
        torch.testing.assert_close(ours, torchs)


def test_max_pool2d_indices_match_torch():
    x = randn(2, 3, 7, 8)
    for module in (hnn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True),):
        out, indices = module(x)
        expected_out, expected_indices = TF.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
        assert torch.equal(out, expected_out) and torch.equal(indices, expected_indices)
    _, indices = HF.max_pool2d(x[0], 2, return_indices=True)  # unbatched (C, H, W)
    assert torch.equal(indices, TF.max_pool2d(x[0], 2, return_indices=True)[1])


# ---------------------------------------------------------------- errors

ERRORS = [
    (lambda: HF.conv2d(randn(1, 3, 5, 5), randn(2, 4, 3, 3)), ValueError,
     "conv2d: input has 3 channels, weight expects 4 (groups=1)"),
    (lambda: HF.conv2d(randn(1, 4, 5, 5), randn(3, 2, 3, 3), groups=2), ValueError,
     "conv2d: weight has 3 output channels, not divisible by groups=2"),
    (lambda: HF.conv2d(randn(1, 4, 5, 5), randn(2, 4, 3)), ValueError, "conv2d: weight must be 4-d"),
    (lambda: HF.conv2d(randn(4, 5), randn(2, 4, 3, 3)), ValueError, "conv2d: input must be 3-d (C, H, W) or 4-d"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), randn(2)), ValueError,
     "conv2d: bias must have shape (3,)"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), stride=0), ValueError,
     "conv2d: stride must be an int >= 1, or a tuple of one or two of them, got 0"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), padding=(1, -1)), ValueError,
     "conv2d: padding must be an int >= 0"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), padding="full"), ValueError,
     "conv2d: padding must be 'valid', 'same', an int or a pair of ints, got 'full'"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3), stride=2, padding="same"), ValueError,
     "conv2d: padding='same' needs stride 1, got stride=(2, 2)"),
    (lambda: HF.conv2d(randn(1, 2, 4, 4), randn(3, 2, 3, 3), dilation=2), ValueError,
     "conv2d: input is 4x4 after padding, smaller than the dilated kernel 5x5"),
    (lambda: HF.conv2d(randn(1, 2, 5, 5), randn(3, 2, 3, 3, dtype=torch.float32)), TypeError,
     "conv2d: weight has dtype torch.float32 but input has dtype torch.float64"),
    (lambda: HF.conv2d(torch.ones(1, 2, 5, 5, dtype=torch.long), randn(3, 2, 3, 3)), TypeError,
     "conv2d: input must be a floating-point tensor"),
    (lambda: hnn.Conv2d(3, 4, 3, padding_mode="reflect"), ValueError,
     "Conv2d: padding_mode must be 'zeros' (handgrad pads with zeros only), got 'reflect'"),
    (lambda: hnn.Conv2d(3, 4, 3, groups=2), ValueError, "Conv2d: in_channels=3 must be divisible by groups=2"),
    (lambda: hnn.Conv2d(4, 4, 3, stride=2, padding="same"), ValueError, "Conv2d: padding='same' needs stride 1"),
    (lambda: HF.max_pool2d(randn(1, 2, 6, 6), 2, padding=2), ValueError,
     "max_pool2d: padding must be at most half the kernel size (2, 2), got padding=(2, 2)"),
    (lambda: HF.max_pool2d(randn(1, 2, 2, 2), 3), ValueError,
     "max_pool2d: input is 2x2 after padding, smaller than the kernel 3x3"),
    (lambda: HF.max_pool2d(randn(1, 1, 1, 3), 2, 1, padding=1, dilation=2), ValueError,
     "max_pool2d: a window at offset -1 along H sees only padding (size 1, kernel 2, dilation 2, padding 1)"),
    (lambda: HF.avg_pool2d(randn(1, 2, 6, 6), 2, divisor_override=0), ValueError,
     "avg_pool2d: divisor_override must be a positive int or None, got 0"),
    (lambda: HF.avg_pool2d(randn(6, 6), 2), ValueError, "avg_pool2d: input must be 3-d (C, H, W) or 4-d"),
    (lambda: HF.avg_pool2d(randn(1, 1, 6, 6), (2, 0)), ValueError, "avg_pool2d: kernel_size must be an int >= 1"),
    (lambda: HF.dropout(randn(3), 1.5), ValueError, "dropout: p must be a probability in [0, 1], got 1.5"),
    (lambda: HF.dropout(randn(3), "half"), TypeError, "dropout: p must be a real number"),
    (lambda: HF.dropout(randn(3), 0.5, inplace=True), ValueError, "dropout: inplace=True is not supported"),
    (lambda: hnn.Dropout(-0.1), ValueError, "Dropout: p must be a probability in [0, 1], got -0.1"),
    (lambda: HF.layer_norm(randn(2, 3, 4), (3,)), ValueError,
     "layer_norm: input of shape (2, 3, 4) does not end in normalized_shape (3,)"),
    (lambda: HF.layer_norm(randn(2, 4), 4, weight=randn(3)), ValueError,
     "layer_norm: weight must have shape (4,), got (3,)"),
    (lambda: HF.batch_norm(randn(4, 3), None, None), ValueError,
     "batch_norm: evaluation (training=False) needs running_mean and running_var, got None"),
    (lambda: HF.batch_norm(randn(1, 3), None, None, training=True), ValueError,
     "batch_norm: training needs more than 1 value per channel, got input shape (1, 3)"),
    (lambda: HF.batch_norm(randn(4, 3), randn(2), randn(2)), ValueError,
     "batch_norm: running_mean must have shape (3,), got (2,)"),
    (lambda: HF.batch_norm(randn(4, 3), randn(3), None), ValueError,
     "batch_norm: give both running_mean and running_var, or neither"),
    (lambda: HF.batch_norm(randn(4), None, None, training=True), ValueError, "batch_norm: input must be (N, C)"),
    (lambda: hnn.BatchNorm2d(3)(randn(4, 3, 5)), ValueError,
     "BatchNorm2d: input must be 4-d (N, C, H, W), got 3-d input"),
    (lambda: hnn.BatchNorm1d(3)(randn(4, 3, 5, 5)), ValueError,
     "BatchNorm1d: input must be 2-d (N, C) or 3-d (N, C, L)"),
    (lambda: HF.layer_norm(randn(4), (2, 4)), ValueError,
     "layer_norm: input of shape (4,) does not end in normalized_shape (2, 4)"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=[m[:60] for _, _, m in ERRORS])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


# ---------------------------------------------------------------- batch norm's running statistics

def test_batch_norm_updates_running_stats_like_torch():
    ours = (torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    theirs = tuple(t.clone() for t in ours)
    for step in range(3):
        x = randn(5, 3, 2, 2) * (step + 1) + step
        out = HF.batch_norm(x, *ours, training=True, momentum=0.3)
        expected = TF.batch_norm(x, *theirs, training=True, momentum=0.3)
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(ours, theirs)  # unbiased variance, momentum-weighted
    frozen = tuple(t.clone() for t in ours)
    HF.batch_norm(randn(5, 3), *ours, training=False)
    assert all(torch.equal(a, b) for a, b in zip(ours, frozen))  # evaluation leaves them alone


def test_running_stats_are_not_differentiable_outputs():
    x = randn(4, 3, grad=True)
    mean, var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    HF.batch_norm(x, mean, var, training=True).sum().backward()
    assert not mean.requires_grad and not var.requires_grad and mean.grad_fn is None


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum=0.1", "cumulative"])
@pytest.mark.parametrize("module", ["BatchNorm1d", "BatchNorm2d"])
def test_batch_norm_module_trains_and_evaluates_like_torch(module, momentum):
    shape = (6, 4) if module == "BatchNorm1d" else (6, 4, 3, 3)
    torch.manual_seed(0)
    ours = getattr(hnn, module)(4, momentum=momentum).double()
    theirs = getattr(torch.nn, module)(4, momentum=momentum).double()
    for step in range(3):
        x = randn(*shape) * (step + 1)
        torch.testing.assert_close(ours(x), theirs(x))
    assert int(ours.num_batches_tracked) == 3
    for name, buffer in theirs.named_buffers():
        torch.testing.assert_close(dict(ours.named_buffers())[name], buffer)
    ours.eval(), theirs.eval()
    x = randn(*shape, grad=True)
    out, expected = ours(x), theirs(x)
    torch.testing.assert_close(out, expected)  # evaluation: the running statistics
    grads = torch.autograd.grad(out.square().sum(), (x, ours.weight, ours.bias))
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, theirs.weight, theirs.bias))
    torch.testing.assert_close(grads, expected_grads)


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval():
    ours, theirs = hnn.BatchNorm2d(2, track_running_stats=False), torch.nn.BatchNorm2d(2, track_running_stats=False)
    assert ours.running_mean is None and ours.num_batches_tracked is None
    ours.eval(), theirs.eval()
    x = torch.randn(3, 2, 4, 4)
    torch.testing.assert_close(ours(x), theirs(x))


# ---------------------------------------------------------------- dropout

def test_dropout_mask_is_reproducible_from_the_seed():
    x = randn(50, 40)
    torch.manual_seed(7)
    first = HF.dropout(x, 0.3)
    torch.manual_seed(7)
    second = HF.dropout(x, 0.3)
    assert torch.equal(first, second)
    assert not torch.equal(first, HF.dropout(x, 0.3))  # the generator moved on: a fresh mask


def test_dropout_is_mask_times_input_over_keep_probability_and_backward_reuses_the_mask():
    p = 0.25
    x = (torch.rand(200, 30, dtype=torch.float64) + 0.5).requires_grad_()  # no zeros, so the mask shows
    out = HF.dropout(x, p)
    keep = out != 0
    torch.testing.assert_close(out, x * keep / (1 - p))
    assert abs(keep.double().mean().item() - (1 - p)) < 0.03
    upstream = randn(200, 30)
    (grad,) = torch.autograd.grad(out, x, upstream)
    torch.testing.assert_close(grad, upstream * keep / (1 - p))


def test_dropout_matches_torch_on_cpu_for_the_same_seed():
    """torch's CPU dropout draws bernoulli(1 - p) into an empty_like(input), as handgrad does."""
    x = randn(30, 20)
    torch.manual_seed(3)
    ours = HF.dropout(x, 0.4)
    torch.manual_seed(3)
    assert torch.equal(ours, TF.dropout(x, 0.4))


def test_dropout_is_identity_for_p_zero_and_in_eval_mode():
    x = randn(4, 5, grad=True)
    assert HF.dropout(x, 0.0) is x
    assert HF.dropout(x, 0.9, training=False) is x
    module = hnn.Dropout(0.9)
    module.eval()
    assert module(x) is x
    module.train()
    assert not torch.equal(module(x), x)


def test_dropout_function_with_a_fixed_mask_passes_gradcheck():
    x = randn(3, 4, grad=True)
    mask = (torch.rand(3, 4) > 0.5).double() / 0.5
    assert torch.autograd.gradcheck(lambda x: HF.DropoutFunction.apply(x, mask), (x,))
    assert torch.autograd.gradgradcheck(lambda x: HF.DropoutFunction.apply(x, mask), (x,))


# ---------------------------------------------------------------- modules: init, state_dict, repr

MODULES = [
    ("Conv2d", (4, 6, 3), {}),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=(1, 0), dilation=(1, 2), groups=2, bias=False)),
    ("Conv2d", (3, 5, 4), dict(padding="same", dilation=2)),
    ("Conv2d", (3, 5, 3), dict(padding="valid")),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", (2,), dict(count_include_pad=False)),
    ("Dropout", (0.2,), {}),
    ("LayerNorm", ((6, 6),), {}),
    ("LayerNorm", (6,), dict(elementwise_affine=False)),
    ("LayerNorm", (6,), dict(bias=False, eps=1e-3)),
    ("BatchNorm1d", (4,), dict(affine=False, momentum=None)),
    ("BatchNorm2d", (4,), {}),
    ("BatchNorm2d", (4,), dict(track_running_stats=False, bias=False)),
]


def _module_input(name):
    if name == "BatchNorm1d":
        return torch.randn(5, 4, 6)
    return torch.randn(2, 4 if name.startswith("BatchNorm") or name.endswith("Pool2d") else 3, 6, 6)


@pytest.mark.parametrize("name, args, kwargs", MODULES, ids=[f"{n}{a}{k}" for n, a, k in MODULES])
def test_module_init_state_dict_and_repr_match_torch(name, args, kwargs):
    if name == "Conv2d" and args[0] == 4:
        x = torch.randn(2, 4, 7, 7)
    else:
        x = _module_input(name)
    torch.manual_seed(0)
    ours = getattr(hnn, name)(*args, **kwargs)
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert torch.equal(ours_state[key], value), key  # same default init, same seed
    # state_dicts move both ways, unchanged
    ours.load_state_dict(theirs_state)
    theirs.load_state_dict(ours.state_dict())
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_batch_norm_loads_a_state_dict_without_num_batches_tracked():
    """torch's version-1 state_dicts predate num_batches_tracked; they load with a count of 0."""
    old = torch.nn.BatchNorm2d(3).state_dict()
    del old["num_batches_tracked"]
    old._metadata[""]["version"] = 1
    module = hnn.BatchNorm2d(3)
    module.num_batches_tracked.fill_(5)
    module.load_state_dict(old)
    assert int(module.num_batches_tracked) == 0


def test_conv2d_module_trains_like_torch():
    torch.manual_seed(0)
    ours = hnn.Conv2d(3, 4, 3, padding=1, groups=1).double()
    theirs = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    theirs.load_state_dict(ours.state_dict())
    x = randn(2, 3, 6, 5)
    ours(x).square().sum().backward()
    theirs(x).square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad)


def test_flatten_is_torch_flatten():
    assert hnn.Flatten is torch.nn.Flatten
