"""Interrupted training resumes exactly, and a crash while a checkpoint is written breaks nothing.

For each descent variant, and for a network with dropout (SmallCNN, whose masks come from
torch's generator: the checkpoint's random state must be restored), a ``handgrad fit`` process
saving a checkpoint after every step is killed with SIGKILL in the middle of an epoch (one step
after its last checkpoint, so that step's work is lost), then resumed with ``--ckpt_path last``.
It must end with the weights, optimizer state and logged metrics of a run never interrupted,
bit for bit (CPU).

To run:  python -m pytest tests/test_resume.py
"""
import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from datamodules.descent import UpdateBlocks
from handgrad.checkpoint import SafeCheckpointIO, load_checkpoint
from reliability_helpers import (  # noqa: F401 (one_thread: a fixture)
    final_state, one_thread, read_metrics, run_cli, subprocess_env, write_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# descent -> (DigitsDataModule settings, epochs, step after which the run is killed).
# Digits' training split has 1,258 samples: stochastic gives 5 steps of 256 updates per epoch,
# minibatch (16) 10 steps of 8 updates, batch one step (one update) per epoch.
VARIANTS = {
    "stochastic": (dict(descent="stochastic", updates_per_step=256), 2, 8),
    "minibatch": (dict(descent="minibatch", batch_size=16, updates_per_step=8), 2, 16),
    "batch": (dict(descent="batch", updates_per_step=1), 4, 3),
    # two digits only (a subset, to stay short): 251 training samples, 4 steps of 4 updates (16) per epoch
    "cnn": (dict(descent="minibatch", batch_size=16, updates_per_step=4, classes=[0, 1]), 2, 6),
}
# a small SmallCNN: convolutions, batch norm and dropout, each drawing or keeping state
CNN = {"network": {"class_path": "handgrad.models.SmallCNN",
                   "init_args": {"num_classes": 2, "channels": [4], "hidden": 16, "dropout": 0.25}}}


def config(folder, descent, config_name="run.yaml", pause=None):
    data, epochs, _ = VARIANTS[descent]
    callbacks = [{"class_path": "reliability_helpers.MetricsLog", "init_args": {"path": str(folder / "metrics")}}]
    if pause is not None:
        callbacks.append({"class_path": "reliability_helpers.PauseAt",
                          "init_args": {"blocks": pause, "marker": str(folder / "paused")}})
    callbacks.append({"class_path": "handgrad.checkpoint.LastCheckpoint", "init_args": {"every_n_train_steps": 1}})
    folder.mkdir(exist_ok=True)
    return write_config(
        folder / config_name, seed_everything=3,
        trainer={"max_epochs": epochs, "default_root_dir": str(folder), "logger": False, "enable_progress_bar": False,
                 "enable_model_summary": False, "callbacks": callbacks},
        model=CNN if descent == "cnn" else {"hidden_sizes": [16]},
        data={"class_path": "datamodules.digits.DigitsDataModule", "init_args": data},
        optimizer={"class_path": "handgrad.optim.Adam", "init_args": {"lr": 0.003}},  # Adam: state to restore
    )


# One process imports the CLI (Lightning's import is most of a run's start-up) and forks one
# child per run before it has run any torch code, so the forks are safe; each child is the
# ``handgrad fit`` command with its own arguments, and each is killed on its own.
LAUNCHER = """
import os, sys
from handgrad.cli import main
for config in sys.argv[1:]:
    child = os.fork()
    if child:
        with open("pids", "a") as file:
            file.write(f"{child}\\n")
    else:
        sys.argv = ["handgrad", "fit", "--config", config]
        try:
            main()
        finally:
            os._exit(0)
for _ in sys.argv[1:]:
    pid, status = os.wait()
    print(pid, status, flush=True)
"""


@pytest.fixture(scope="module")
def killed_runs(tmp_path_factory):
    """The runs to be killed, one per descent variant, started together in the background."""
    root = tmp_path_factory.mktemp("killed")
    folders = {descent: root / descent for descent in VARIANTS}
    configs = [config(folders[descent], descent, pause=pause) for descent, (_, _, pause) in VARIANTS.items()]
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, *configs], env=subprocess_env(), cwd=root,
                                stdout=subprocess.PIPE, stderr=open(root / "stderr.txt", "w"), text=True)
    yield {"folders": folders, "launcher": launcher, "root": root, "ended": []}
    for pid in map(int, (root / "pids").read_text().split()):  # runs a failed test left paused
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    launcher.wait(timeout=30)


def kill_when_paused(runs, descent, timeout=180):
    """SIGKILL the run once it has paused; return the step it had reached."""
    folder, launcher = runs["folders"][descent], runs["launcher"]
    start = time.monotonic()
    while not (folder / "paused").exists():
        if launcher.poll() is not None:
            pytest.fail(f"the runs ended before they were killed:\n{(runs['root'] / 'stderr.txt').read_text()[-3000:]}")
        if time.monotonic() - start > timeout:
            pytest.fail("the run did not reach the step where it is killed")
        time.sleep(0.1)
    step, pid = map(int, (folder / "paused").read_text().split())
    os.kill(pid, signal.SIGKILL)
    # gone for sure (the launcher reaped it, killed) before anything reads its checkpoint
    while f"{pid} {int(signal.SIGKILL)}" not in runs["ended"]:
        line = launcher.stdout.readline()
        assert line, "the launcher ended without reporting the killed run"
        runs["ended"].append(line.strip())
    return step


@pytest.mark.parametrize("descent", list(VARIANTS))
def test_killed_run_resumes_to_the_same_weights_and_metrics(descent, killed_runs, tmp_path):
    whole = tmp_path / "whole"
    status, lines, _ = run_cli(["fit", "--config", config(whole, descent)])
    assert status == 0, lines

    folder = killed_runs["folders"][descent]
    killed_at = kill_when_paused(killed_runs, descent)
    saved = load_checkpoint(folder / "checkpoints" / "last.ckpt")
    assert 0 < saved["global_step"] < killed_at  # the newest checkpoint is from before the lost step
    assert "rng_states" in saved
    if descent != "batch":  # batch descent has one step per epoch: no middle to kill it in
        loader = saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
        assert 0 < loader["blocks_served"] < loader["num_blocks"]  # killed mid-epoch

    status, lines, _ = run_cli(["fit", "--config", config(folder, descent, "resume.yaml"), "--ckpt_path", "last"])
    assert status == 0, lines

    weights, optimizer = final_state(whole / "checkpoints" / "last.ckpt")
    resumed_weights, resumed_optimizer = final_state(folder / "checkpoints" / "last.ckpt")
    assert weights.keys() == resumed_weights.keys()
    for name in weights:
        assert torch.equal(weights[name], resumed_weights[name]), name
    for index, state in optimizer[0]["state"].items():
        resumed = resumed_optimizer[0]["state"][index]
        assert state["step"] == resumed["step"]
        assert torch.equal(state["exp_avg"], resumed["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], resumed["exp_avg_sq"])
    # every step's update losses and train_loss, every epoch's validation metrics: the killed run's
    # records up to its kill, overwritten from the checkpoint on by the resumed run's
    assert read_metrics(folder / "metrics") == read_metrics(whole / "metrics")


def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path):
    target = tmp_path / "last.ckpt"
    io = SafeCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "step": 1}, target)
    before = target.read_bytes()

    child = os.fork()
    if child == 0:  # the process that dies mid-write: half the bytes in the file, then SIGKILL
        def half_written_then_killed(descriptor):
            os.ftruncate(descriptor, os.fstat(descriptor).st_size // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = half_written_then_killed  # called once the bytes are written, before the rename
        try:
            io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "step": 2}, target)
        finally:
            os._exit(1)  # never reached when the kill works
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    assert target.read_bytes() == before  # the half-written file never took the name
    assert load_checkpoint(target)["step"] == 1
    leftovers = [path.name for path in tmp_path.iterdir() if path.name != "last.ckpt"]
    assert all(name.startswith(".last.ckpt.") for name in leftovers) and len(leftovers) == 1

    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "step": 3}, target)  # the next save works
    assert load_checkpoint(target)["step"] == 3


def test_an_error_while_writing_a_checkpoint_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    SafeCheckpointIO().save_checkpoint({"state_dict": {}, "step": 1}, target)

    def fail_midway(obj, file):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        SafeCheckpointIO().save_checkpoint({"state_dict": {}, "step": 2}, target)
    monkeypatch.undo()
    assert load_checkpoint(target)["step"] == 1
    assert [path.name for path in tmp_path.iterdir()] == ["last.ckpt"]


def blocks(**kwargs):
    options = dict(descent="minibatch", batch_size=3, updates_per_block=2, seed=5)
    options.update(kwargs)
    return UpdateBlocks(torch.arange(20.0)[:, None], torch.arange(20), **options)


def targets_of(loader, epochs):
    return [block["targets"].tolist() for _ in range(epochs) for block in loader]


def test_the_loader_resumes_at_the_block_it_had_reached():
    interrupted = blocks()
    iterator = iter(interrupted)
    seen = [next(iterator)["targets"].tolist() for _ in range(2)]  # epoch 0: blocks 0 and 1 of 4
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "blocks_served": 2, "epochs_started": 1, "num_blocks": 4}
    resumed = blocks()
    resumed.load_state_dict(state)
    # the rest of epoch 0, then epoch 1 in its own order
    assert seen + targets_of(resumed, 2) == targets_of(blocks(), 2)


def test_a_state_saved_after_an_epoch_starts_the_next_afresh():
    finished = blocks(epoch_fn=lambda: 0)
    list(finished)
    resumed = blocks(epoch_fn=lambda: 1)
    resumed.load_state_dict(finished.state_dict())
    assert targets_of(resumed, 1) == targets_of(blocks(epoch_fn=lambda: 1), 1)
