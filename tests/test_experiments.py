"""The experiment scripts: each runs in its quick mode and writes its figure and table with the expected columns."""
import csv
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the scripts live in experiments/, run as modules from the repository root
    sys.path.insert(0, str(ROOT))

from experiments import backprop_view, descent_variants, four_digits, learning_rate, local_minima  # noqa: E402


def run_quick(module, out):
    module.main(["--quick", "--out", str(out)])


def table(path):
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows, f"{path.name} is empty"
    return rows


def assert_figure(path):
    assert path.exists() and path.stat().st_size > 10_000, f"{path.name} missing or blank"


def test_descent_variants(tmp_path):
    run_quick(descent_variants, tmp_path)
    assert_figure(tmp_path / "descent_variants.png")
    rows = table(tmp_path / "descent_variants.csv")
    assert list(rows[0]) == descent_variants.COLUMNS
    assert [row["descent"] for row in rows] == ["batch", "minibatch", "stochastic"]
    assert [int(row["samples_per_update"]) for row in rows] == [1259, 32, 1]
    noise = [float(row["loss_noise_mean"]) for row in rows]
    assert noise[0] < noise[1] < noise[2]  # batch < mini-batch < stochastic, even after 2 epochs
    assert float(rows[0]["grad_noise_mean"]) == 0.0
    assert all(float(row["lr"]) in (0.3, 3.0) for row in rows)  # each variant at its best rate of the quick sweep
    assert "The sweep" in (tmp_path / "descent_variants.md").read_text()


def test_descent_variants_knobs_one_rate_one_variant(tmp_path, capsys):
    descent_variants.main(["--quick", "--lr", "0.5", "--epochs", "1", "--descent", "batch", "--out", str(tmp_path)])
    rows = table(tmp_path / "descent_variants.csv")
    assert [(row["descent"], float(row["lr"]), row["epochs"]) for row in rows] == [("batch", 0.5, "1")]
    with pytest.raises(SystemExit):
        descent_variants.main(["--lr", "-1"])
    assert "argument --lr: expected a float > 0, got '-1'" in capsys.readouterr().err


def test_local_minima(tmp_path):
    run_quick(local_minima, tmp_path)
    assert_figure(tmp_path / "local_minima.png")
    rows = table(tmp_path / "local_minima.csv")
    assert list(rows[0]) == local_minima.COLUMNS
    assert {row["method"] for row in rows} == {"batch", "stochastic"}
    for row in rows:
        if row["method"] == "batch":  # exact descent cannot leave the basin it starts in (at these small steps)
            assert float(row["fraction_global"]) == float(row["started_global"])


def test_cauchy_cost_backward_is_its_derivative():
    params = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    points = torch.randn(3, 4, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w: local_minima.cauchy_cost(w, points), (params,))


def test_learning_rate(tmp_path):
    run_quick(learning_rate, tmp_path)
    assert_figure(tmp_path / "learning_rate.png")
    rows = table(tmp_path / "learning_rate.csv")
    assert list(rows[0]) == learning_rate.COLUMNS
    assert [row["role"] for row in rows] == ["too small", "good", "too large"]
    assert [row["diverged"] for row in rows] == ["False", "False", "True"]


def test_four_digits(tmp_path):
    run_quick(four_digits, tmp_path)
    assert_figure(tmp_path / "four_digits.png")
    rows = table(tmp_path / "four_digits.csv")
    assert list(rows[0]) == four_digits.COLUMNS
    assert [int(row["digit"]) for row in rows] == [digit for digit in range(4) for _ in range(four_digits.PER_DIGIT)]
    for row in rows:
        assert all(0.0 <= float(row[f"activation_{unit}"]) <= 1.0 for unit in range(4))


def test_backprop_view(tmp_path):
    run_quick(backprop_view, tmp_path)
    assert_figure(tmp_path / "backprop_view.png")
    rows = table(tmp_path / "backprop_view.csv")
    assert list(rows[0]) == backprop_view.COLUMNS
    assert {(row["activation"], row["epoch"]) for row in rows} == {
        (activation, str(epoch)) for activation in ("sigmoid", "relu") for epoch in (1, 2)}
    assert len(rows) == 2 * 2 * 5  # activations x epochs x dense layers
    trace = (tmp_path / "backprop_view.md").read_text()
    assert "6 backward calls" in trace and "CrossEntropyFunction" in trace


@pytest.mark.parametrize("module", [descent_variants, local_minima, learning_rate, four_digits, backprop_view])
def test_every_script_says_what_it_does_and_how_to_run_it(module):
    name = module.__name__
    assert f"python -m {name}" in module.__doc__
    assert "--quick" in module.__doc__
