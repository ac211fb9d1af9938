"""The handgrad command has no silent surprises: help that fits, short names, one line for every
mistake (also those Lightning or torch find), untrained evaluation only on request, and a block at
the start of fit that says what will run.

To run:  python -m pytest tests/test_cli_contract.py
"""
import contextlib
import io
import sys

import pytest

from handgrad.cli import run
from reliability_helpers import ROOT, one_thread  # noqa: F401 (one_thread: a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")
DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")
QUICK = ["--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false", "--trainer.callbacks", "[]",
         "--model.hidden_sizes", "[8]", "--data.init_args.shift_augment", "false"]


def handgrad(args):
    """``handgrad args`` in this process: (exit status, stdout, stderr lines)."""
    out, err, status = io.StringIO(), io.StringIO(), 0
    argv, sys.argv = sys.argv, ["handgrad"]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            run(args)
        except SystemExit as exit:
            status = exit.code
        finally:
            sys.argv = argv
    return status, out.getvalue(), [line for line in err.getvalue().splitlines() if line.strip()]


def error_line(args):
    status, _, lines = handgrad(args)
    errors = [line for line in lines if line.startswith("handgrad: error: ")]
    assert status == 2 and len(errors) == 1, lines
    return errors[0]


def test_top_level_help_says_what_handgrad_is_with_three_examples():
    status, out, _ = handgrad(["--help"])
    assert status == 0
    assert out.splitlines()[2].startswith("handgrad: backpropagation written by hand")
    assert out.count("\n  handgrad ") == 3
    # every subcommand in one whole sentence, plot included (the Trainer's docstrings' first lines stop mid-sentence)
    listed = out[out.index("\n    fit "):]
    assert [line.split()[0] for line in listed.strip().splitlines()] == ["fit", "validate", "test", "predict", "plot"]
    assert all(line.rstrip().endswith(".") for line in listed.strip().splitlines())


def test_fit_help_is_short_and_shows_our_options_before_the_trainers():
    status, out, _ = handgrad(["fit", "--help"])
    assert status == 0 and len(out.splitlines()) < 500
    assert "torch.nn.Identity" not in out  # no list of every nn.Module
    positions = [out.index(option) for option in ("--model.hidden_sizes", "--data.descent", "--trainer.max_epochs")]
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", ["DigitsDataModule", "MNISTDataModule"])
def test_datamodules_by_short_name(name):
    status, out, _ = handgrad(["fit", "--data", name, "--print_config"])
    assert status == 0 and f"class_path: datamodules.{name}" in out.replace("datamodules.digits.", "datamodules.")


def test_data_help_by_short_name():
    status, out, _ = handgrad(["fit", "--data.help", "DigitsDataModule"])
    assert status == 0 and "--data.descent" in out


@pytest.mark.parametrize("args, words", [
    (["fit", "--trainer.max_epochs", "1"], "data: no datamodule given; pass --config"),
    (["fit", "--config", DIGITS, "--model.hidden_sizes", "30,30"],
     "model.hidden_sizes: expected list, got '30,30' (a list is written in brackets: [30,30])"),
    (["fit", "--config", DIGITS, "--trainer.max_epochs", "-5"], "trainer: `max_epochs` must be a non-negative integer"),
    (["fit", "--config", DIGITS, "--model.hidden_sizes", "[100000000000]"],
     "not enough memory to build the model and data as configured"),
    (["test", "--config", DIGITS], "ckpt_path: test needs the checkpoint of a trained network"),
    (["validate", "--config", DIGITS], "ckpt_path: validate needs the checkpoint"),
    (["predict", "--config", DIGITS], "ckpt_path: predict needs the checkpoint"),
    (["fit", "--config", DIGITS, "--ckpt_path", "untrained"], "ckpt_path: 'untrained' is for validate, test and predict"),
    (["fit", "--config", str(ROOT / "experiments" / "configs" / "digits_cnn.yaml"), "--model.hidden_sizes", "[8]"],
     "Classifier: hidden_sizes=[8] would be ignored"),
    (["fit", "--config", DIGITS, "--model.network", "torch.nn.Linear", "--model.network.in_features", "64",
      "--model.network.out_features", "5", "--model.hidden_sizes", "null", "--model.activation", "null"],
     "model.network: the network gives outputs of shape (5,) per sample, but the data has 10 classes"),
])
def test_mistakes_are_one_line(args, words, tmp_path):
    # the run folder last, so that no config given before it can move the run into the repository
    assert words in error_line([*args, "--trainer.default_root_dir", str(tmp_path)])


def test_untrained_evaluation_on_request(tmp_path):
    status, out, lines = handgrad(["test", "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path),
                                   "--ckpt_path", "untrained", "--trainer.enable_progress_bar", "false"])
    assert status == 0 and "test_acc" in out, lines


def test_fit_block_says_what_runs_and_which_argument_was_carried_over(tmp_path):
    status, out, lines = handgrad(["fit", "--config", DIGITS, *QUICK, "--trainer.default_root_dir", str(tmp_path),
                                   "--optimizer", "handgrad.optim.GradientDescent", "--trainer.max_steps", "1"])
    assert status == 0, lines
    block = out[out.index("handgrad fit:"):].split("\n\n")[0]
    for words in ("MLP 64 -> 8 -> 10, relu", "cross_entropy", "GradientDescent(lr=0.002, momentum=0.0",
                  "lr=0.002 is carried over from handgrad.optim.Adam", "minibatch: 32 samples per update, 40 updates "
                  "per epoch", str(tmp_path)):
        assert words in " ".join(block.split()), block


def test_fit_block_is_silent_about_an_optimizer_argument_set_on_the_command_line(tmp_path):
    status, out, _ = handgrad(["fit", "--config", DIGITS, *QUICK, "--trainer.default_root_dir", str(tmp_path),
                               "--optimizer", "handgrad.optim.GradientDescent", "--optimizer.lr", "0.1",
                               "--trainer.max_steps", "1"])
    assert status == 0 and "GradientDescent(lr=0.1," in out and "carried over" not in out


def test_debug_shows_the_traceback_behind_the_line(tmp_path, monkeypatch):
    args = ["fit", "--config", DIGITS, "--trainer.max_epochs", "-5", "--trainer.default_root_dir", str(tmp_path)]
    plain = handgrad(args)
    monkeypatch.setenv("HANDGRAD_DEBUG", "1")
    debug = handgrad(args)
    assert plain[0] == debug[0] == 2
    assert not any("Traceback" in line for line in plain[2])
    assert "Traceback (most recent call last):" in debug[2] and debug[2][-1] == plain[2][-1]


def test_a_whole_number_of_training_steps_is_a_count(tmp_path):
    from handgrad.cli import HandgradCLI
    from handgrad.lightning import Classifier

    cli = HandgradCLI(Classifier, subclass_mode_data=True, run=False,
                      args=["--config", DIGITS, *QUICK, "--trainer.default_root_dir", str(tmp_path),
                            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1.0",
                            "--data.init_args.updates_per_step", "8"])
    assert cli.trainer.limit_train_batches == 2 and isinstance(cli.trainer.limit_train_batches, int)
    assert cli.trainer.limit_val_batches == 1.0  # a share: all of it
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 2 * 8  # two training steps of 8 updates
