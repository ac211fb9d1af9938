"""Data parallelism: ``handgrad fit --trainer.strategy ddp --trainer.accelerator cpu --trainer.devices 2``
trains on two processes (gloo) and takes the updates one process would take on the same samples;
so does ``--trainer.num_nodes 2`` with one process per node (two commands, ``NODE_RANK`` 0 and 1,
``MASTER_ADDR=127.0.0.1``), as on two machines.

Two runs, started together: batch descent through handgrad's fast path (every update is the
whole training set, split between the processes) on two nodes of one process each, and
minibatch descent through autograd (the torch backend, where DDP's own gradient averaging must
stay out of the way) on one node of two processes, with 27 samples per update, so the
processes hold 14 and 13 of them. Each is compared, update by
update, with the same config on one process: weights after every step, the logged train
loss (the mean over all samples, the same on both processes) and the validation metrics.

To run:  python -m pytest tests/test_ddp.py
"""
import socket
import subprocess
import sys

import pytest
import torch

from datamodules.descent import UpdateBlocks
from reliability_helpers import (  # noqa: F401 (one_thread: a fixture)
    final_state, one_thread, read_metrics, run_cli, subprocess_env, write_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")

DDP = ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.devices", "2"]
NODES = ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
         "--trainer.num_nodes", "2"]

# name -> (model settings, data settings, epochs, nodes)
RUNS = {
    "batch-handgrad": ({"backend": "handgrad"}, {"descent": "batch", "updates_per_step": 1}, 3, 2),
    "minibatch-torch": ({"backend": "torch"}, {"descent": "minibatch", "batch_size": 27, "updates_per_step": 47}, 1, 1),
}


def config(folder, name, ddp=False):
    model, data, epochs, _ = RUNS[name]
    folder.mkdir(parents=True)
    callbacks = [{"class_path": "reliability_helpers.MetricsLog", "init_args": {"path": str(folder / "metrics")}},
                 {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"every_n_train_steps": 1, "save_top_k": -1, "filename": "{step}"}}]
    if ddp:
        callbacks.append({"class_path": "reliability_helpers.ReducerWatch",
                          "init_args": {"path": str(folder / "reducer")}})
    return write_config(
        folder / "run.yaml", seed_everything=5,
        trainer={"max_epochs": epochs, "default_root_dir": str(folder), "logger": False, "enable_progress_bar": False,
                 "enable_model_summary": False, "num_sanity_val_steps": 0, "callbacks": callbacks},
        model={"hidden_sizes": [16], **model},
        data={"class_path": "datamodules.digits.DigitsDataModule", "init_args": data},
        optimizer={"class_path": "handgrad.optim.GradientDescent", "init_args": {"lr": 0.5, "momentum": 0.5}},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both two-process runs, started together; then each config on one process, here."""
    root = tmp_path_factory.mktemp("ddp")
    processes = {}
    for name, (*_, nodes) in RUNS.items():
        config_path = config(root / name / "ddp", name, ddp=True)
        if nodes == 1:
            command = [sys.executable, "-m", "handgrad", "fit", "--config", config_path, *DDP]
            processes[name] = subprocess.Popen(command, env=subprocess_env(), cwd=root, stdout=subprocess.DEVNULL,
                                               stderr=open(root / f"{name}.stderr", "w"))
            continue
        with socket.socket() as probe:  # a free port for the nodes to meet at
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        for node in range(nodes):
            env = {**subprocess_env(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "NODE_RANK": str(node)}
            command = [sys.executable, "-m", "handgrad", "fit", "--config", config_path, *NODES]
            processes[f"{name}.node{node}"] = subprocess.Popen(
                command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=open(root / f"{name}.node{node}.stderr", "w"))
    for name in RUNS:
        status, lines, _ = run_cli(["fit", "--config", config(root / name / "one", name)])
        assert status == 0, lines
    for name, process in processes.items():
        try:
            process.wait(timeout=240)
        finally:
            process.kill()
        stderr = (root / f"{name}.stderr").read_text()
        assert process.returncode == 0, stderr[-3000:]
        if name.endswith(".node1"):
            stderr += (root / f"{name[:-1]}0.stderr").read_text()
        if not name.endswith(".node0"):
            assert "MEMBER: 2/2" in stderr  # Lightning's word that the second process joined
    return root


@pytest.mark.parametrize("name", list(RUNS))
def test_two_processes_take_the_updates_of_one(name, runs):
    """batch-handgrad: two nodes of one process each (--trainer.num_nodes 2); minibatch-torch: --trainer.devices 2."""
    assert_same_updates(runs / name / "one", runs / name / "ddp", name)


def assert_same_updates(one, ddp, name):
    """Weights after every step, logged losses and validation metrics of ``ddp`` equal those of ``one``."""
    steps = sorted(path.name for path in (one / "checkpoints").glob("step=*.ckpt"))
    assert steps == sorted(path.name for path in (ddp / "checkpoints").glob("step=*.ckpt"))
    assert len(steps) == RUNS[name][2]  # one step per epoch here; the first is after one update (batch)
    for step in steps:
        weights, _ = final_state(one / "checkpoints" / step)
        ddp_weights, _ = final_state(ddp / "checkpoints" / step)
        for key in weights:
            torch.testing.assert_close(ddp_weights[key], weights[key], rtol=1e-5, atol=1e-6, msg=f"{step} {key}")

    for rank in (0, 1):  # the gradients were averaged by the Classifier, not by DDP's reducer as well
        assert (ddp / f"reducer.rank{rank}").read_text() == "0"

    alone = read_metrics(one / "metrics")
    rank0, rank1 = read_metrics(ddp / "metrics", 0), read_metrics(ddp / "metrics", 1)
    assert rank0 == rank1  # both processes log the global values
    assert alone.keys() == rank0.keys()
    for key, record in alone.items():
        for metric, value in record.items():
            if metric in ("epoch", "batch_idx"):
                assert rank0[key][metric] == value
            else:  # update_losses, train_loss, val_loss, val_acc: means over all samples
                torch.testing.assert_close(torch.tensor(rank0[key][metric]), torch.tensor(value), rtol=1e-5, atol=1e-6)


def test_each_update_is_dealt_out_to_the_processes():
    # 10 samples in updates of 4 (the last of 2), two updates per block, three processes
    inputs, targets = torch.zeros(10, 1), torch.arange(10)
    whole = list(UpdateBlocks(inputs, targets, "minibatch", 4, 2, seed=0))
    shares = [list(UpdateBlocks(inputs, targets, "minibatch", 4, 2, seed=0, rank=rank, world_size=3))
              for rank in range(3)]
    assert [part["update_size"] for part in (share[0] for share in shares)] == [2, 1, 1]
    for index, block in enumerate(whole):
        parts = [share[index] for share in shares]
        assert [part["num_updates"] for part in parts] == [block["num_updates"]] * 3  # even with nothing to do
        for update in range(block["num_updates"]):
            rows = block["targets"][update * 4:(update + 1) * 4].tolist()
            got = [part["targets"][update * part["update_size"]:(update + 1) * part["update_size"]].tolist()
                   for part in parts]
            assert got == [rows[rank::3] for rank in range(3)]  # sample i to process i mod 3
    assert [share[1]["targets"].numel() for share in shares] == [1, 1, 0]
