"""The handgrad command: fit, test, resume, print_config, optimizers, and clear errors for bad configs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "experiments" / "configs" / "digits.yaml")
QUICK = ["--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false", "--model.hidden_sizes", "[16]"]


def handgrad(*args, cwd, console_script=False):
    """``python -m handgrad ...``, or the installed ``handgrad`` console script (which exits with
    whatever main() returns)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [str(Path(sys.executable).parent / "handgrad")] if console_script else [sys.executable, "-m", "handgrad"]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_fit_then_test_prints_test_accuracy(tmp_path):
    root = str(tmp_path / "run")
    fit = handgrad("fit", "--config", CONFIG, *QUICK, "--trainer.default_root_dir", root, cwd=tmp_path,
                   console_script=(Path(sys.executable).parent / "handgrad").exists())
    assert fit.returncode == 0, fit.stderr[-2000:]
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert best.exists() and (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
    # what make train leaves: the metric history and the curves beside the checkpoints, the summary last
    assert (tmp_path / "run" / "metrics.csv").is_file() and (tmp_path / "run" / "curves.png").is_file()
    assert fit.stdout.strip().splitlines()[-1] == f"curves: {tmp_path / 'run' / 'curves.png'}"
    assert "fit done: 1 epoch, " in fit.stdout
    test = handgrad("test", "--config", CONFIG, *QUICK, "--trainer.default_root_dir", root,
                    "--ckpt_path", str(best), cwd=tmp_path)
    assert test.returncode == 0, test.stderr[-2000:]
    assert "test_acc" in test.stdout
    line = next(line for line in test.stdout.splitlines() if "test_acc" in line)
    assert 0.5 < float(line.split()[-1]) <= 1.0


def test_resume_from_last_checkpoint(tmp_path):
    root = str(tmp_path / "run")
    first = handgrad("fit", "--config", CONFIG, *QUICK, "--trainer.default_root_dir", root, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = handgrad("fit", "--config", CONFIG, *QUICK, "--trainer.max_epochs", "2",
                       "--trainer.default_root_dir", root, "--ckpt_path", "last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Restoring states from the checkpoint path" in resumed.stderr + resumed.stdout


def test_print_config_and_any_torch_optimizer(tmp_path):
    printed = handgrad("fit", "--config", CONFIG, "--optimizer", "torch.optim.SGD", "--optimizer.lr", "0.05",
                       "--print_config", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert "class_path: torch.optim.SGD" in printed.stdout and "lr: 0.05" in printed.stdout
    assert "descent: minibatch" in printed.stdout
    fit = handgrad("fit", "--config", CONFIG, *QUICK, "--optimizer", "torch.optim.SGD", "--optimizer.lr", "0.05",
                   "--trainer.default_root_dir", str(tmp_path / "run"), cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr[-2000:]


BAD_CONFIGS = [
    (["--data.init_args.descent", "sgd"], "descent must be one of batch, stochastic, minibatch"),
    (["--data.init_args.batch_size", "0"], "batch_size must be an int >= 1, got 0"),
    (["--data.init_args.batch_size", "100000"], "batch_size 100000 is larger than the training set"),
    (["--model.activation", "gelu"], "activation must be one of sigmoid, tanh, relu, leaky_relu"),
    (["--model.loss", "hinge"], "loss must be one of mse, quadratic, cross_entropy, nll, bce"),
    (["--data.init_args.classes", "[]"], "classes must be a non-empty list"),
    (["--data.init_args.classes", "[1, 12]"], "classes holds 12"),
    (["--optimizer", "handgrad.optim.Nope"], "handgrad.optim.Nope"),
]


@pytest.mark.parametrize("args, message", BAD_CONFIGS, ids=[" ".join(a) for a, _ in BAD_CONFIGS])
def test_bad_config_is_a_clear_error_before_training(tmp_path, capsys, args, message):
    from handgrad.cli import main

    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", CONFIG, *QUICK, *args, "--trainer.default_root_dir", str(tmp_path / "r")])
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "r").exists()  # nothing ran, nothing was written


def test_bad_config_from_the_command_line_exits_non_zero(tmp_path):
    result = handgrad("fit", "--config", CONFIG, "--model.loss", "hinge", cwd=tmp_path)
    assert result.returncode != 0 and "loss must be one of" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m_and_console_script_help(tmp_path):
    result = handgrad("--help", cwd=tmp_path)
    assert result.returncode == 0 and "fit" in result.stdout and "test" in result.stdout


def test_torchvision_mlp_config_trains_with_handgrad_swapped_in(tmp_path, capsys):
    from handgrad.cli import HandgradCLI
    from handgrad.lightning import Classifier

    config = str(ROOT / "experiments" / "configs" / "digits_torchvision_mlp.yaml")
    cli = HandgradCLI(Classifier, subclass_mode_data=True, run=False,
                      args=["--config", config, "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
                            "--trainer.default_root_dir", str(tmp_path)])
    report = str(cli.model.swap_report)
    assert "handgrad.nn.Linear" in report and "handgrad.nn.ReLU" in report and "5 swapped, 0 left" in report
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step > 0
    assert type(cli.model.network[0]).__module__.startswith("handgrad.nn")
