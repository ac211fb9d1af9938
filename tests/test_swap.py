"""handgrad.swap / unswap on real torchvision models: same outputs, same gradients, same
Parameter objects, checkpoints that move both ways, and a report of every module."""
import copy

import pytest
import torch
import torchvision
from torch import nn

import handgrad
import handgrad.nn as hnn
from handgrad.swap import SWAPS, UNSWAPS

EXACT = dict(rtol=1e-10, atol=1e-12)


def _vit():
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    )


def _relus(model):
    return {path for path, module in model.named_modules() if type(module) is nn.ReLU}


def _twinned(model):
    """The paths of every module whose exact type has a handgrad twin."""
    return {path for path, module in model.named_modules() if type(module) in SWAPS}


VIT_LAYERS = [f"encoder.layers.encoder_layer_{i}" for i in range(2)]

# name: (build, input shape, the paths swap must swap, {path: words its skipped note must hold})
MODELS = {
    "mlp": (
        lambda: torchvision.ops.MLP(8, [16, 16, 4]), (2, 8),
        lambda m: {str(i) for i in range(8)},  # Linear, ReLU, Dropout (p=0) x 2, Linear, Dropout
        {},
    ),
    "resnet18": (
        # 64x64, not 32x32: train-mode batch norm on layer4's 1x1 maps would see 2 values per
        # channel, an ill-conditioned backward (see test_swap_cnn.py)
        lambda: torchvision.models.resnet18(weights=None), (2, 3, 64, 64),
        _twinned,
        {"avgpool": "no handgrad twin"},
    ),
    "mobilenet_v3_small": (
        lambda: torchvision.models.mobilenet_v3_small(weights=None).eval(), (2, 3, 32, 32),
        _twinned,
        {"classifier.1": "no handgrad twin", "features.0.2": "no handgrad twin"},
    ),
    "vit": (
        _vit, (2, 3, 32, 32),
        lambda m: {"heads.head", "conv_proj", "encoder.dropout", "encoder.ln"}
        | {f"{layer}.{name}" for layer in VIT_LAYERS for name in ("ln_1", "dropout", "ln_2")}
        | {f"{layer}.mlp.{i}" for layer in VIT_LAYERS for i in (0, 2, 3, 4)},
        {f"{layer}.self_attention.out_proj": "subclass of torch.nn.Linear" for layer in VIT_LAYERS}
        | {f"{layer}.self_attention": "no handgrad twin" for layer in VIT_LAYERS}
        | {f"{layer}.mlp.1": "no handgrad twin" for layer in VIT_LAYERS}  # GELU
        | {"": "no handgrad twin"},
    ),
}


def _forward_backward(model, x):
    """Output and every parameter's gradient for a fixed upstream gradient."""
    out = model(x)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape))
    return out.detach(), {name: p.grad for name, p in model.named_parameters()}


def _grad_fn_names(model, paths):
    """Record the grad_fn name of the output of each module at ``paths`` that computes one
    (a Dropout with p=0 or in eval mode hands its input back: that grad_fn is not its own)."""
    names = {}
    for path in paths:
        def hook(module, args, output, path=path):
            if output is not args[0]:
                names[path] = output.grad_fn.name()
        model.get_submodule(path).register_forward_hook(hook)
    return names


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_gives_same_outputs_and_gradients(name):
    build, shape, swapped_paths, skipped_notes = MODELS[name]
    torch.manual_seed(0)
    reference = build().double()
    model = copy.deepcopy(reference)
    parameters = dict(model.named_parameters())

    returned, report = handgrad.swap(model)

    assert returned is model
    assert all(p is parameters[n] for n, p in model.named_parameters())
    expected = swapped_paths(reference)
    assert {row.path for row in report.swapped} == expected
    for path in expected:
        assert type(model.get_submodule(path)) is SWAPS[type(reference.get_submodule(path))].handgrad
    # every leaf that is not swapped is reported as skipped, with why
    leaves = {path for path, m in reference.named_modules() if next(m.children(), None) is None}
    assert leaves - expected <= {row.path for row in report.skipped}
    for path, words in skipped_notes.items():
        assert words in report[path].note and report[path].now == report[path].was
    grad_fn_names = _grad_fn_names(model, expected)

    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out, grads = _forward_backward(model, x)
    expected_out, expected_grads = _forward_backward(reference, x)

    torch.testing.assert_close(out, expected_out, **EXACT)
    assert grads.keys() == expected_grads.keys()
    for key in grads:
        torch.testing.assert_close(grads[key], expected_grads[key], **EXACT, msg=lambda m, k=key: f"{k}: {m}")
    # the swapped modules really ran handgrad's Functions
    identities = {path for path in expected if type(model.get_submodule(path)) is hnn.Dropout}
    assert expected - identities <= set(grad_fn_names) <= expected
    assert all(n.endswith("FunctionBackward") for n in grad_fn_names.values()), grad_fn_names


def _classifier():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.LeakyReLU(0.1, inplace=True), nn.Linear(8, 3),
        nn.LogSoftmax(dim=1),
    ).double()


def test_optimizer_built_before_swap_trains_like_torch():
    reference = _classifier()
    model = copy.deepcopy(reference)
    loss_fn, reference_loss_fn = nn.NLLLoss(), nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # before the swap
    handgrad.swap(model)
    handgrad.swap(loss_fn)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    assert type(model[0]) is hnn.Linear and type(loss_fn) is hnn.NLLLoss

    generator = torch.Generator().manual_seed(2)
    for _ in range(5):
        x = torch.randn(4, 6, dtype=torch.float64, generator=generator)
        y = torch.randint(3, (4,), generator=generator)
        for net, cost, opt in ((model, loss_fn, optimizer), (reference, reference_loss_fn, reference_optimizer)):
            opt.zero_grad()
            loss = cost(net(x), y)
            loss.backward()
            opt.step()
        assert loss_fn(model(x), y).grad_fn.name() == "NLLLossFunctionBackward"

    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert not torch.equal(p, _classifier().get_parameter(name)), f"{name} did not train"
        torch.testing.assert_close(p, q, **EXACT)


def test_checkpoint_moves_between_swapped_and_torch_models(tmp_path):
    model = _classifier()
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    handgrad.swap(model)
    state = model.state_dict()
    assert state.keys() == state_before.keys()
    assert all(torch.equal(state[k], state_before[k]) for k in state)

    torch.save(model.state_dict(), tmp_path / "swapped.pt")
    plain = _classifier()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(1.0)  # so that loading has something to change
    plain.load_state_dict(torch.load(tmp_path / "swapped.pt"))
    x = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(plain(x), model(x), **EXACT)

    with torch.no_grad():
        for p in plain.parameters():
            p.mul_(0.5)
    torch.save(plain.state_dict(), tmp_path / "torch.pt")
    model.load_state_dict(torch.load(tmp_path / "torch.pt"))
    torch.testing.assert_close(model(x), plain(x), **EXACT)
    assert type(model[0]) is hnn.Linear


def test_swap_then_unswap_gives_back_the_torch_model():
    torch.manual_seed(0)
    original = torchvision.models.resnet18(weights=None, num_classes=5).double().eval()
    model = copy.deepcopy(original)
    parameters = list(model.parameters())

    handgrad.swap(model)
    assert type(model.relu) is hnn.ReLU and not model.relu.inplace
    returned, report = handgrad.unswap(model)

    assert returned is model
    assert [(p, type(m)) for p, m in model.named_modules()] == [(p, type(m)) for p, m in original.named_modules()]
    assert [m.inplace for m in model.modules() if type(m) is nn.ReLU] == [True] * 9
    assert all(p is q for p, q in zip(model.parameters(), parameters))
    state, expected = model.state_dict(), original.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(model(x), original(x), **EXACT)
    assert {row.path for row in report.swapped} == _twinned(original)
    assert report["relu"].now == "torch.nn.ReLU" and report["relu"].note == "inplace=True restored"


def test_hooks_mode_requires_grad_dtype_are_kept():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU()).double()
    model[0].bias.requires_grad_(False)
    model[1].eval()
    calls = []
    model[0].register_forward_pre_hook(lambda m, args: calls.append("pre"))
    model[0].register_forward_hook(lambda m, args, out: calls.append("forward"))
    model[0].register_full_backward_hook(lambda m, grad_in, grad_out: calls.append("backward"))
    removable = model[1].register_forward_hook(lambda m, args, out: calls.append("removed"))

    handgrad.swap(model)
    removable.remove()  # a handle taken before the swap still works
    model(torch.randn(2, 3, dtype=torch.float64, requires_grad=True)).sum().backward()

    assert calls == ["pre", "forward", "backward"]
    assert type(model[0]) is hnn.Linear and model[0].training and not model[1].training
    assert model[0].weight.requires_grad and model[0].weight.grad is not None
    assert not model[0].bias.requires_grad and model[0].bias.grad is None
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in model.parameters())


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2), nn.Sigmoid()))


@pytest.mark.parametrize("include, exclude, swapped", [
    (nn.Linear, None, {"0", "2.0"}),
    ([nn.ReLU, nn.Sigmoid], None, {"1", "2.1"}),
    (None, nn.Linear, {"1", "2.1"}),
    ("2.*", None, {"2.0", "2.1"}),
    ("2*", None, {"2.0", "2.1"}),  # fnmatch's * crosses dots
    (["0", nn.Sigmoid], None, {"0", "2.1"}),
    (None, ["*.0", "1"], {"0", "2.1"}),
    (nn.Linear, "2.*", {"0"}),  # exclude wins
])
def test_include_and_exclude_by_type_and_pattern(include, exclude, swapped):
    model, report = handgrad.swap(_net(), include=include, exclude=exclude)
    assert {row.path for row in report.swapped} == swapped
    assert {p for p, m in model.named_modules() if type(m).__module__.startswith("handgrad")} == swapped
    for row in report.skipped:
        assert row.note in ("not matched by include", "no handgrad twin") or row.note.startswith("excluded by")


def test_report_prints_a_table():
    _, report = handgrad.swap(_net(), exclude="2.0")
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["module", "was", "now", "note"]
    assert any(line.split()[:3] == ["0", "torch.nn.Linear", "handgrad.nn.Linear"] for line in lines)
    assert any(line.split()[:3] == ["2.0", "torch.nn.Linear", "unchanged"] and "excluded by '2.0'" in line
               for line in lines)
    assert lines[-1] == "3 swapped, 1 left as they were"
    assert repr(report) == text and len(report) == 4


class _OwnLinear(nn.Linear):
    pass  # no forward of its own, and still skipped: swap takes exact types only


def test_modules_that_only_look_swappable_stay_torch():
    model = nn.Sequential(_OwnLinear(2, 2), nn.Softmax(), nn.LogSoftmax(dim=1), nn.Linear(2, 2), hnn.Tanh())
    model[3].forward = lambda x: x
    _, report = handgrad.swap(model)

    assert [type(m) for m in model] == [_OwnLinear, nn.Softmax, hnn.LogSoftmax, nn.Linear, hnn.Tanh]
    assert report["0"].note == "subclass of torch.nn.Linear: swap takes exact types only"
    assert report["1"].note.startswith("dim=None")
    assert "forward is set on the instance" in report["3"].note
    assert report["4"].note == "already handgrad"


def test_shared_module_is_swapped_once_for_every_path():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    _, report = handgrad.swap(model, include="2")  # the pattern may name any path of the module
    assert model[0] is model[2] and type(shared) is hnn.Linear
    assert [row.path for row in report.swapped] == ["0"]


def test_loss_modules_keep_their_buffers_and_settings():
    weight = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    reference = nn.CrossEntropyLoss(weight=weight, ignore_index=1, label_smoothing=0.1, reduction="sum")
    loss = copy.deepcopy(reference)
    handgrad.swap(loss)
    assert type(loss) is hnn.CrossEntropyLoss and loss.weight is not weight and torch.equal(loss.weight, weight)
    assert (loss.ignore_index, loss.label_smoothing, loss.reduction) == (1, 0.1, "sum")
    logits, target = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 2])
    torch.testing.assert_close(loss(logits, target), reference(logits, target), **EXACT)
    assert loss.state_dict().keys() == reference.state_dict().keys()


_ARGS = {
    nn.Linear: (3, 4), nn.Softmax: (1,), nn.LogSoftmax: (1,), nn.Conv2d: (3, 4, 3), nn.MaxPool2d: (2,),
    nn.AvgPool2d: (2,), nn.LayerNorm: (4,), nn.BatchNorm1d: (4,), nn.BatchNorm2d: (4,),
}
# constructor options that change which attributes, parameters or buffers a module holds
_VARIANTS = [
    (nn.Linear, (3, 4), dict(bias=False)),
    (nn.Conv2d, (4, 6, (3, 2)), dict(stride=2, padding=(1, 0), dilation=(1, 2), groups=2, bias=False)),
    (nn.Conv2d, (3, 4, 4), dict(padding="same", dilation=(1, 2))),
    (nn.Conv2d, (3, 4, 3), dict(padding="valid")),
    (nn.MaxPool2d, (3,), dict(stride=2, padding=1, dilation=1, return_indices=True, ceil_mode=True)),
    (nn.AvgPool2d, ((3, 2),), dict(stride=1, padding=1, count_include_pad=False, divisor_override=2)),
    (nn.Dropout, (0.2,), dict(inplace=True)),
    (nn.LayerNorm, ((2, 3),), dict(elementwise_affine=False)),
    (nn.LayerNorm, (5,), dict(bias=False)),
    (nn.BatchNorm1d, (4,), dict(affine=False, track_running_stats=False)),
    (nn.BatchNorm2d, (4,), dict(momentum=None, bias=False)),
]
_CASES = [(t, _ARGS.get(t, ()), {}) for t in SWAPS] + _VARIANTS


@pytest.mark.parametrize("torch_type, args, kwargs", _CASES,
                         ids=[f"{t.__name__}{'-' + '-'.join(k) if k else ''}" for t, _, k in _CASES])
def test_each_twin_has_its_torch_modules_attributes(torch_type, args, kwargs):
    """Swapping by class assignment is sound only if the twin reads no attribute torch lacks,
    and holds the same settings, parameters and buffers for the same constructor call."""
    twin = SWAPS[torch_type].handgrad
    original, handmade = torch_type(*args, **kwargs), twin(*args, **kwargs)
    assert vars(original).keys() == vars(handmade).keys()
    for name, value in vars(original).items():
        if not name.startswith("_") and not isinstance(value, torch.Tensor):
            assert vars(handmade)[name] == value, name
    for store in ("_parameters", "_buffers"):
        assert getattr(original, store).keys() == getattr(handmade, store).keys()
        for name, value in getattr(original, store).items():
            assert (value is None) == (getattr(handmade, store)[name] is None), name
    assert UNSWAPS[twin] is torch_type


def test_bad_input_gets_a_clear_error():
    with pytest.raises(TypeError, match="swap: model must be a torch.nn.Module, got list"):
        handgrad.swap([nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="unswap: model must be a torch.nn.Module, got Tensor"):
        handgrad.unswap(torch.zeros(2))
    with pytest.raises(ValueError, match=r"include holds torch.nn.Conv1d, which has no handgrad twin .*torch.nn.Linear"):
        handgrad.swap(_net(), include=nn.Conv1d)
    with pytest.raises(ValueError, match=r"exclude holds torch.nn.modules.linear.NonDynamicallyQuantizableLinear"):
        handgrad.swap(_net(), exclude=[nn.modules.linear.NonDynamicallyQuantizableLinear])
    with pytest.raises(ValueError, match="include holds handgrad.nn.Linear; name the torch type it replaces, torch.nn.Linear"):
        handgrad.swap(_net(), include=hnn.Linear)
    with pytest.raises(TypeError, match="include must hold module types or name patterns .str., got int 3"):
        handgrad.swap(_net(), include=[3])
    model = _net()
    with pytest.raises(ValueError, match=r"exclude pattern 'fc' matches no module path of this model \(paths look like '0'"):
        handgrad.swap(model, exclude=["2.*", "fc"])
    assert all(type(m).__module__.startswith("torch") for m in model.modules())  # nothing changed
