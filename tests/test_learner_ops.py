"""Training the digit classifier with a learner's own pieces: ``handgrad fit --model.ops FILE``.
The reference solutions train it; a wrong backward stops fit before the first update with one
line; with that check skipped the parity gauge shows the wrong layer; bad input is one line, exit 2.

    .venv/bin/python -m pytest tests/test_learner_ops.py
"""
import os

import pytest

from handgrad.cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXERCISES = os.path.join(ROOT, "experiments", "exercises")
CONFIG = os.path.join(ROOT, "experiments", "configs", "digits_yours.yaml")
REFERENCE_OPS = os.path.join(EXERCISES, "reference_ops.py")
QUIET = ["--trainer.enable_progress_bar", "false"]

# reference_ops.py with a sigmoid whose backward forgot grad_output: wrong below the last layer only
WRONG_SIGMOID = f"""import sys
sys.path.insert(0, {EXERCISES!r})
import sigmoid
from reference_ops import Linear, CrossEntropy as Cost, GradientDescent as Optimizer

lr = 0.5


class Activation(sigmoid.Sigmoid):
    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return output * (1 - output)
"""


def _fit(tmp_path, ops, *extra):
    return run(["fit", "--config", CONFIG, "--model.ops", str(ops), "--trainer.default_root_dir", str(tmp_path),
                *QUIET, *extra])


def _exits(capsys, tmp_path, ops, *extra):
    """(exit status, stderr lines) of a fit that must stop before training."""
    with pytest.raises(SystemExit) as stopped:
        _fit(tmp_path, ops, *extra)
    lines = capsys.readouterr().err.strip().splitlines()
    assert not (tmp_path / "checkpoints").exists(), "nothing may be trained"
    return stopped.value.code, lines


def test_reference_solutions_train_the_digit_classifier(tmp_path):
    """The three-seed figure is measured by experiments/seeds.py (docs/learner.md); this is seed 1."""
    fit = _fit(tmp_path, REFERENCE_OPS)
    assert fit.trainer.current_epoch == 10
    names = {type(piece).__name__ for piece in fit.model.network.modules()}
    assert "LearnerMLP" in names and type(fit.trainer.optimizers[0]).__name__ == "GradientDescent"
    assert type(fit.trainer.optimizers[0]).__module__ == "handgrad_ops_reference_ops"  # the learner's, not handgrad's
    test = run(["test", "--config", CONFIG, "--model.ops", REFERENCE_OPS, "--trainer.default_root_dir",
                str(tmp_path), "--ckpt_path", str(tmp_path / "checkpoints" / "best.ckpt"), *QUIET])
    assert test.trainer.callback_metrics["test_acc"] >= 0.97


def test_a_wrong_backward_stops_fit_with_one_line_naming_the_piece(tmp_path, capsys):
    ops = tmp_path / "my_ops.py"
    ops.write_text(WRONG_SIGMOID)
    status, lines = _exits(capsys, tmp_path / "run", ops)
    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("handgrad: error: model.ops: Activation (Activation) fails gradcheck")
    assert lines[0].endswith(f"see python -m handgrad.check {ops}:Activation")


def test_with_the_check_skipped_the_parity_gauge_shows_the_wrong_layer(tmp_path):
    ops = tmp_path / "my_ops.py"
    ops.write_text(WRONG_SIGMOID)
    fit = _fit(tmp_path / "run", ops, "--model.ops_check", "false", "--trainer.max_epochs", "1",
               "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
               "--trainer.callbacks+=handgrad.callbacks.GradientParity", "--trainer.callbacks.every_n_steps", "16")
    parity = next(c for c in fit.trainer.callbacks if type(c).__name__ == "GradientParity")
    assert fit.trainer.current_epoch == 1 and parity.layer_history[0][0] == 0  # from the first update on
    layers = parity.layer_history[0][1]
    assert layers["layers.0"] > 1e-3  # below the wrong sigmoid
    assert layers["layers.1"] < 1e-5  # above it, the learner's gradient is autograd's
    assert {"grad_parity", "grad_parity/layers.0", "grad_parity/layers.1"} <= set(fit.trainer.callback_metrics)


NO_NAMES = "import torch\n\nclass MyLinear(torch.autograd.Function):\n    pass\n"
WRONG_SIGNATURE = f"""import sys
sys.path.insert(0, {EXERCISES!r})
import linear
from reference_ops import Sigmoid as Activation, CrossEntropy as Cost


class Linear(linear.Linear):
    @staticmethod
    def forward(input, weight):
        return input @ weight.T
"""


@pytest.mark.parametrize("text, words", [
    (None, "model.ops: no such file: "),
    (NO_NAMES, "defines no Linear, Activation, Cost (expected Linear, Activation, Cost and optionally "
               "Output, Optimizer, lr); it defines: MyLinear"),
    (WRONG_SIGNATURE, "Linear (Linear): forward takes 2 inputs, expected 3 (input, weight, bias)"),
], ids=["missing file", "no expected names", "wrong signature"])
def test_bad_ops_file_is_one_line_exit_2(tmp_path, capsys, text, words):
    ops = tmp_path / "ops.py"
    if text is not None:
        ops.write_text(text)
    status, lines = _exits(capsys, tmp_path / "run", ops)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("handgrad: error: model.ops: ") and words in lines[0], lines


def test_an_optimizer_in_the_config_beside_the_ops_files_is_refused(tmp_path, capsys):
    status, lines = _exits(capsys, tmp_path, REFERENCE_OPS, "--optimizer", "handgrad.optim.Adam",
                           "--optimizer.lr", "0.01")
    assert status == 2 and len(lines) == 1
    assert "defines Optimizer (GradientDescent), and the config gives Adam too; remove one" in lines[0]
