"""The classifier's five costs: value and gradient equal torch's on the same logits, on every path."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from handgrad.backprop import cost_and_logit_grad
from handgrad.costs import COSTS, cost, cost_table, predict
from handgrad.lightning import Classifier

ROOT = Path(__file__).resolve().parents[1]


def torch_expression(name, z, y):
    """The table's torch expression, evaluated: the table's text is what this test holds the code to."""
    N = len(z)
    t = F.one_hot(y, z.shape[1]).to(z.dtype) if z.shape[1] > 1 else y.to(z.dtype)[:, None]
    return eval(COSTS[name].torch_expression, {"F": F, "torch": torch, "z": z, "y": y, "t": t, "N": N})


CASES = [(name, classes) for name in COSTS for classes in (4,)] + [("bce", 1)]


@pytest.mark.parametrize("name, units", CASES, ids=[f"{n}-{u}" for n, u in CASES])
def test_each_cost_value_and_gradient_equal_torch(name, units):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, units, generator=generator, dtype=torch.float64) * 3
    targets = torch.randint(0, max(units, 2), (7,), generator=generator)
    expected_z = logits.clone().requires_grad_()
    expected = torch_expression(name, expected_z, targets)
    (expected_grad,) = torch.autograd.grad(expected, expected_z)
    for backend in ("handgrad", "torch"):
        z = logits.clone().requires_grad_()
        value = cost(z, targets, name, backend)
        (grad,) = torch.autograd.grad(value, z)
        torch.testing.assert_close(value, expected)
        torch.testing.assert_close(grad, expected_grad)
    # the fast path: the cost summed over samples times scale, and its logit gradient
    value, grad = cost_and_logit_grad(logits.clone(), targets, name, 1.0 / len(logits))
    torch.testing.assert_close(value, expected.detach())
    torch.testing.assert_close(grad, expected_grad)


def test_one_output_unit_predicts_class_one_above_probability_one_half():
    assert predict(torch.tensor([[-0.1], [0.2], [0.0]])).tolist() == [0, 1, 0]
    assert predict(torch.tensor([[0.1, 0.3], [2.0, -1.0]])).tolist() == [1, 0]


def test_bce_on_two_classes_builds_one_output_unit():
    assert Classifier(loss="bce", num_classes=2, hidden_sizes=[4]).network(torch.zeros(3, 64)).shape == (3, 1)
    assert Classifier(loss="bce", num_classes=3, hidden_sizes=[4]).network(torch.zeros(3, 64)).shape == (3, 3)


@pytest.mark.parametrize("name", ["mse", "quadratic", "bce"])
def test_a_network_ending_in_sigmoid_is_refused_where_the_cost_adds_one(name):
    network = torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.Sigmoid())
    with pytest.raises(ValueError, match="already ends in Sigmoid; remove that last Sigmoid"):
        Classifier(network=network, loss=name)
    Classifier(network=network, loss="cross_entropy")  # softmax over sigmoid outputs: odd, but not doubled


def test_the_table_is_in_help_and_in_the_docs(capsys):
    from handgrad.cli import main

    docs = (ROOT / "docs" / "costs.md").read_text()
    for row in cost_table().splitlines():
        assert row in docs
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name, entry in COSTS.items():
        assert f"{name}: {entry.formula} = {entry.torch_expression}" in help_text


@pytest.mark.parametrize("name", list(COSTS))
def test_each_cost_trains_the_digits_from_its_config(name, tmp_path):
    from handgrad.cli import HandgradCLI

    cli = HandgradCLI(Classifier, subclass_mode_data=True, run=False, args=[
        "--config", str(ROOT / "experiments" / "configs" / f"digits_{name}.yaml"), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path)])
    assert cli.model.loss_name == name and cli.config["seed_everything"] == 1
    cli.trainer.fit(cli.model, cli.datamodule)
    accuracy = cli.trainer.test(cli.model, cli.datamodule, ckpt_path="best", verbose=False)[0]["test_acc"]
    assert accuracy >= 0.95
