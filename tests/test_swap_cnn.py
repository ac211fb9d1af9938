"""handgrad.swap on convolutional torchvision models, float64: resnet18 and mobilenet_v3_small
give torch's outputs, the gradient of every parameter and the same running statistics, in
train and in eval mode, and the report names exactly the modules that stayed torch.

Inputs are 2x3x64x64, not 32x32: at 32x32 the last stage's maps are 1x1, so train-mode batch
norm there sees 2 values per channel. Its output is then about +-1 whatever the input, and its
backward is driven by eps alone: gradient norms reach 1e6 and float64 rounding differences
between two correct backward passes grow to 1e-5, so the comparison would test rounding. At
64x64 every batch norm sees at least 8 values per channel.
"""
import copy

import pytest
import torch
import torchvision
from torch import nn

import handgrad
import handgrad.nn as hnn
from handgrad.swap import SWAPS

# Same ops in the forward (handgrad's Functions call torch's conv/pool kernels), but the backward
# sums in another order (conv_transpose2d vs torch's convolution backward, batch norm's two means
# vs torch's fused kernel): float64 rounding of a few 1e-16 relative, over ~20 layers.
CLOSE = dict(rtol=1e-10, atol=1e-12)

MODELS = {
    # name: (build, what stays torch: {type name}, report's closing line)
    "resnet18": (
        lambda: torchvision.models.resnet18(weights=None),
        {"torch.nn.AdaptiveAvgPool2d"},
        "51 swapped, 1 left as they were",
    ),
    "mobilenet_v3_small": (
        lambda: torchvision.models.mobilenet_v3_small(weights=None),
        {"torch.nn.AdaptiveAvgPool2d", "torch.nn.Hardswish", "torch.nn.Hardsigmoid"},
        "103 swapped, 38 left as they were",
    ),
}
SHAPE = (2, 3, 64, 64)


def _input(seed):
    return torch.randn(SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _forward_backward(model, x):
    """Output and every parameter's gradient for a fixed upstream gradient. The seed makes
    train-mode Dropout draw the same mask in both models (both draw it with bernoulli_)."""
    torch.manual_seed(3)
    out = model(x)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape))
    return out.detach(), {name: p.grad for name, p in model.named_parameters()}


def _calibrate(model):
    """Running statistics of one batch instead of the fresh (0, 1), so that eval mode normalizes
    for real: with (0, 1), mobilenet's eval-mode gradients are ~1e-8 and would test nothing."""
    batch_norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for module in batch_norms:
        module.momentum = None  # cumulative average: after one batch, that batch's statistics
    with torch.no_grad():
        model.train()(_input(7))
    for module in batch_norms:
        module.momentum = 0.1


def _handgrad_outputs(model):
    """Record, for each swapped module, the grad_fn name of its output (where it made one)."""
    names = {}
    for path, module in model.named_modules():
        if type(module).__module__.startswith("handgrad"):
            def hook(module, args, output, path=path):
                if output is not args[0]:  # Dropout in eval mode hands its input back
                    names[path] = output.grad_fn.name()
            module.register_forward_hook(hook)
    return names


@pytest.mark.parametrize("name", MODELS)
def test_report_names_what_stays_torch(name):
    build, stays_torch, closing = MODELS[name]
    model = build()
    twinned = {path for path, m in model.named_modules() if type(m) in SWAPS}
    _, report = handgrad.swap(model)
    print(report)

    assert str(report).splitlines()[-1] == closing
    assert {row.path for row in report.swapped} == twinned
    assert {row.was for row in report.skipped} == stays_torch
    assert {row.note for row in report.skipped} == {"no handgrad twin"}
    assert all(type(model.get_submodule(row.path)).__module__.startswith("handgrad") for row in report.swapped)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", MODELS)
def test_swapped_model_gives_torchs_outputs_gradients_and_running_stats(name, mode):
    build, _, _ = MODELS[name]
    torch.manual_seed(0)
    reference = build().double()
    if mode == "eval":
        _calibrate(reference)
    getattr(reference, mode)()
    model = copy.deepcopy(reference)
    before = {key: buffer.clone() for key, buffer in reference.named_buffers()}
    handgrad.swap(model)
    ran_handgrad = _handgrad_outputs(model)

    x = _input(1)
    out, grads = _forward_backward(model, x)
    expected_out, expected_grads = _forward_backward(reference, x)

    torch.testing.assert_close(out, expected_out, **CLOSE)
    assert grads.keys() == expected_grads.keys()
    for key in grads:
        torch.testing.assert_close(grads[key], expected_grads[key], **CLOSE, msg=lambda m, k=key: f"{k}: {m}")
    # not a vacuous comparison: the first layer's gradient is far from zero
    first = next(iter(grads))
    assert expected_grads[first].abs().max() > 1e-3, (first, expected_grads[first].abs().max())
    # running statistics: updated alike in train mode, untouched in eval mode
    buffers, expected_buffers = dict(model.named_buffers()), dict(reference.named_buffers())
    assert buffers.keys() == expected_buffers.keys()
    for key in buffers:
        torch.testing.assert_close(buffers[key], expected_buffers[key], **CLOSE, msg=lambda m, k=key: f"{k}: {m}")
    changed = {key for key in buffers if not torch.equal(buffers[key], before[key])}
    if mode == "train":
        assert changed == set(buffers)  # every running mean, variance and count moved
    else:
        assert changed == set()
    # and the swapped modules ran handgrad's Functions
    grad_fn_kinds = {n.removesuffix("FunctionBackward") for n in ran_handgrad.values()}
    assert all(n.endswith("FunctionBackward") for n in ran_handgrad.values()), ran_handgrad
    assert {"Conv2d", "BatchNorm", "ReLU", "Linear"} <= grad_fn_kinds


def test_conv_with_other_padding_modes_stays_torch():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Conv2d(2, 2, 3, padding=1),
                          nn.Dropout(0.5, inplace=True))
    _, report = handgrad.swap(model)
    assert [type(m) for m in model] == [nn.Conv2d, hnn.Conv2d, hnn.Dropout]
    assert report["0"].note == "padding_mode='reflect': handgrad's conv2d pads with zeros only"
    assert not model[2].inplace and report["2"].note.startswith("inplace=True -> out of place")
    handgrad.unswap(model)
    assert [type(m) for m in model] == [nn.Conv2d, nn.Conv2d, nn.Dropout] and model[2].inplace
