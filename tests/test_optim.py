"""handgrad's optimizers follow torch.optim's trajectories and reject bad hyperparameters."""
import pytest
import torch

from handgrad.optim import Adam, GradientDescent

GD_OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True),
]
ADAM_OPTIONS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, eps=1e-3),
    dict(lr=0.01, weight_decay=0.1),
]


def trajectory(optimizer_class, options, steps=50):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    inputs, targets = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    optimizer = optimizer_class(model.parameters(), **options)
    states = []
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
        states.append([p.detach().clone() for p in model.parameters()])
    return states


@pytest.mark.parametrize("options", GD_OPTIONS, ids=str)
def test_gradient_descent_follows_sgd(options):
    for ours, theirs in zip(trajectory(GradientDescent, options), trajectory(torch.optim.SGD, options)):
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
def test_adam_follows_torch_adam(options):
    for ours, theirs in zip(trajectory(Adam, options), trajectory(torch.optim.Adam, options)):
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_parameters_actually_move():
    states = trajectory(GradientDescent, dict(lr=0.1), steps=2)
    assert not torch.equal(states[0][0], states[1][0])


@pytest.mark.parametrize(
    "optimizer_class, options, message",
    [
        (GradientDescent, dict(lr=-0.1), "lr must be >= 0, got -0.1"),
        (GradientDescent, dict(lr="fast"), "lr must be a real number"),
        (GradientDescent, dict(lr=0.1, momentum=1.0), "momentum must be in [0, 1), got 1.0"),
        (GradientDescent, dict(lr=0.1, momentum=-0.5), "momentum must be >= 0"),
        (GradientDescent, dict(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (GradientDescent, dict(lr=0.1, weight_decay=-1), "weight_decay must be >= 0"),
        (Adam, dict(lr=-1.0), "lr must be >= 0"),
        (Adam, dict(betas=(0.9, 1.0)), "betas[1] must be in [0, 1)"),
        (Adam, dict(betas=0.9), "betas must be a pair"),
        (Adam, dict(eps=-1e-8), "eps must be >= 0"),
    ],
)
def test_bad_hyperparameters_are_rejected(optimizer_class, options, message):
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises((ValueError, TypeError)) as info:
        optimizer_class(params, **options)
    assert message in str(info.value)
    assert optimizer_class.__name__ in str(info.value)
