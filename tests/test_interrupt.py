"""Ctrl-C keeps the work: a fit stopped by SIGINT finishes the update in progress, writes its state
to last.ckpt, prints where it stopped and the command that resumes it, and exits 130; the resumed
run ends with the weights, optimizer state and logged metrics of a run never interrupted, bit for
bit (CPU), for a network with dropout (SmallCNN). A second Ctrl-C stops at once.

To run:  python -m pytest tests/test_interrupt.py
"""
import shlex

import pytest
import torch

from handgrad.checkpoint import load_checkpoint
from reliability_helpers import (  # noqa: F401 (one_thread: a fixture)
    final_state, one_thread, read_metrics, run_cli, write_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CNN = {"network": {"class_path": "handgrad.models.SmallCNN",
                   "init_args": {"num_classes": 2, "channels": [4], "hidden": 16, "dropout": 0.25}}}


def config(folder, signal_at=None, times=1):
    """Two digits (a subset: 251 training samples), 16 updates of 16 samples per epoch in 4 steps, 2 epochs."""
    callbacks = [{"class_path": "reliability_helpers.MetricsLog", "init_args": {"path": str(folder / "metrics")}}]
    if signal_at is not None:
        callbacks.append({"class_path": "reliability_helpers.SignalAt",
                          "init_args": {"update": signal_at, "times": times}})
    folder.mkdir(exist_ok=True)
    return write_config(
        folder / "run.yaml", seed_everything=3,
        trainer={"max_epochs": 2, "default_root_dir": str(folder), "enable_progress_bar": False,
                 "enable_model_summary": False, "callbacks": callbacks},
        model=CNN,
        data={"class_path": "datamodules.digits.DigitsDataModule",
              "init_args": {"descent": "minibatch", "batch_size": 16, "updates_per_step": 4, "classes": [0, 1]}},
        optimizer={"class_path": "handgrad.optim.Adam", "init_args": {"lr": 0.003}},
    )


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    status, lines, _ = run_cli(["fit", "--config", config(folder)])
    assert status == 0, lines
    return folder


def test_ctrl_c_saves_the_update_in_progress_and_the_resumed_run_is_the_same(whole, tmp_path):
    folder = tmp_path / "interrupted"
    # Ctrl-C during update 7 (6 done), the third of the second step's four
    status, lines, _ = run_cli(["fit", "--config", config(folder, signal_at=6)])
    assert status == 130, lines
    last = folder / "checkpoints" / "last.ckpt"
    assert lines[-3:-1] == ["handgrad: interrupted (Ctrl-C) at epoch 0, after update 7",
                            f"handgrad: checkpoint: {last}"], lines
    saved = load_checkpoint(last)
    assert saved["global_step"] == 7  # the update in progress finished, none after it
    loader = saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert loader["blocks_served"] == 2 and loader["updates_taken"] == 3 and len(loader["losses_taken"]) == 3

    prefix = "handgrad: resume with: "
    assert lines[-1].startswith(prefix)
    command = shlex.split(lines[-1][len(prefix):])
    assert command[:2] == ["handgrad", "fit"] and command[-2:] == ["--ckpt_path", str(last)]
    status, lines, _ = run_cli(command[1:])
    assert status == 0, lines

    weights, optimizer = final_state(whole / "checkpoints" / "last.ckpt")
    resumed_weights, resumed_optimizer = final_state(last)
    assert weights.keys() == resumed_weights.keys()
    for name in weights:
        assert torch.equal(weights[name], resumed_weights[name]), name
    for index, state in optimizer[0]["state"].items():
        resumed = resumed_optimizer[0]["state"][index]
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(torch.as_tensor(state[key]), torch.as_tensor(resumed[key])), (index, key)
    # every step's update losses and train_loss (the stopped step's too), every epoch's validation metrics
    assert read_metrics(folder / "metrics") == read_metrics(whole / "metrics")
    # and the CLI's own log of them, metrics.csv (handgrad.metrics_log), row for row
    assert (folder / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()
    # Lightning's count of steps, at which loggers write: the stopped step counted once (handgrad._compat)
    loops, resumed_loops = (torch.load(path, weights_only=True)["loops"]["fit_loop"]
                            for path in (whole / "checkpoints" / "last.ckpt", last))
    for key in ("epoch_loop.state_dict", "epoch_loop.batch_progress", "epoch_progress"):
        assert loops[key] == resumed_loops[key], key


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    status, lines, _ = run_cli(["fit", "--config", config(tmp_path, signal_at=6, times=2)])
    assert status == 130, lines
    assert lines[-1] == "handgrad: stopped at once (Ctrl-C); no checkpoint was written"
    assert not (tmp_path / "checkpoints").exists()
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]

