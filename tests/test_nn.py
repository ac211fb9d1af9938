"""handgrad.nn modules: torch.nn's constructor arguments, parameter names, shapes and initialisation."""
import pytest
import torch
from torch import nn

import handgrad.nn as hnn

PAIRS = [
    (lambda m: m.Linear(5, 3), True),
    (lambda m: m.Linear(5, 3, bias=False), True),
    (lambda m: m.Sigmoid(), False),
    (lambda m: m.Tanh(), False),
    (lambda m: m.ReLU(), False),
    (lambda m: m.LeakyReLU(0.2), False),
    (lambda m: m.Softmax(dim=1), False),
    (lambda m: m.LogSoftmax(dim=1), False),
]


@pytest.mark.parametrize("make, has_params", PAIRS)
def test_module_matches_torch_module(make, has_params):
    torch.manual_seed(0)
    ours = make(hnn)
    torch.manual_seed(0)
    theirs = make(nn)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)
    assert ours.extra_repr() == theirs.extra_repr()
    x = torch.randn(4, 5, requires_grad=True)
    torch.testing.assert_close(ours(x), theirs(x))
    assert bool(list(ours.parameters())) == has_params


def test_state_dict_moves_between_torch_and_handgrad():
    torch_model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2))
    ours = nn.Sequential(hnn.Linear(6, 4), hnn.Tanh(), hnn.Linear(4, 2))
    ours.load_state_dict(torch_model.state_dict())
    x = torch.randn(3, 6)
    torch.testing.assert_close(ours(x), torch_model(x))
    torch_model.load_state_dict(ours.state_dict())


def test_linear_factory_kwargs_and_reset():
    layer = hnn.Linear(3, 2, dtype=torch.float64, device="cpu")
    assert layer.weight.dtype == torch.float64 and layer.bias.shape == (2,)
    bound = 1 / 3**0.5
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    with pytest.raises(ValueError, match="Linear: in_features must be a non-negative int, got -1"):
        hnn.Linear(-1, 2)


LOSSES = [
    ("MSELoss", {}, lambda: (torch.randn(4, 3, requires_grad=True), torch.randn(4, 3))),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 2},
     lambda: (torch.randn(4, 3, requires_grad=True), torch.tensor([0, 2, 1, 1]))),
    ("CrossEntropyLoss", {"weight": torch.tensor([1.0, 2.0, 0.5])},
     lambda: (torch.randn(4, 3, requires_grad=True), torch.tensor([0, 2, 1, 1]))),
    ("NLLLoss", {"reduction": "sum"}, lambda: (torch.randn(4, 3).log_softmax(1).requires_grad_(), torch.tensor([0, 2, 1, 1]))),
    ("BCELoss", {"reduction": "none"}, lambda: (torch.rand(4, 3, requires_grad=True), torch.rand(4, 3))),
    ("BCEWithLogitsLoss", {"pos_weight": torch.tensor([1.0, 2.0, 3.0])},
     lambda: (torch.randn(4, 3, requires_grad=True), torch.rand(4, 3))),
]


@pytest.mark.parametrize("name, kwargs, make", LOSSES, ids=[f"{n}{sorted(k)}" for n, k, _ in LOSSES])
def test_loss_module_matches_torch(name, kwargs, make):
    ours, theirs = getattr(hnn, name)(**kwargs), getattr(nn, name)(**kwargs)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    input, target = make()
    torch.testing.assert_close(ours(input, target), theirs(input, target))


def test_loss_module_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="MSELoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        hnn.MSELoss(reduction="avg")
