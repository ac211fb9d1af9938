"""Helpers for the reliability tests: callbacks the CLI loads by class path, and CLI runners.

The callbacks are named in YAML configs (``tests`` is on the Python path of the runs), so
that a run in another process records and pauses exactly as one in this process.
"""
import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from handgrad.cli import run

ROOT = Path(__file__).resolve().parents[1]


class MetricsLog(L.Callback):
    """Appends every logged metric to a JSON-lines file (one per process), with the step it
    belongs to: per block the update losses and train_loss, per epoch the validation metrics."""

    def __init__(self, path: str):
        self.path = Path(path)

    def _write(self, trainer, record):
        path = self.path.with_suffix(f".rank{trainer.global_rank}.jsonl")
        with open(path, "a") as file:
            file.write(json.dumps(record) + "\n")  # json writes floats exactly (shortest round-trip repr)
            file.flush()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._write(trainer, {
            "key": f"train/{trainer.global_step}", "epoch": trainer.current_epoch, "batch_idx": batch_idx,
            "train_loss": float(trainer.callback_metrics["train_loss"]),
            "update_losses": outputs["update_losses"].tolist(),
        })

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("val")}
        self._write(trainer, {"key": f"val/{trainer.current_epoch}", **metrics})


class ReducerWatch(L.Callback):
    """Counts the gradient buckets DistributedDataParallel's reducer all-reduces, and writes the
    count to ``path`` (one file per process) when training ends; 0 means the reducer stayed out."""

    def __init__(self, path: str):
        self.path, self.buckets = Path(path), 0

    def on_train_start(self, trainer, module):
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
        from torch.nn.parallel import DistributedDataParallel

        def counting_allreduce(state, bucket):
            self.buckets += 1
            return allreduce_hook(state, bucket)

        model = trainer.strategy.model
        assert isinstance(model, DistributedDataParallel), type(model)
        model.register_comm_hook(None, counting_allreduce)

    def on_train_end(self, trainer, module):
        self.path.with_suffix(f".rank{trainer.global_rank}").write_text(str(self.buckets))


class PauseAt(L.Callback):
    """After ``blocks`` training steps, writes "global_step pid" to ``marker`` and sleeps, waiting to be killed.

    It runs before the checkpoint callback of the same step, so the newest checkpoint is
    the one of the step before and the paused step's work is lost with the process.
    """

    def __init__(self, blocks: int, marker: str):
        self.blocks, self.marker, self.seen = blocks, Path(marker), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.blocks:
            self.marker.write_text(f"{trainer.global_step} {os.getpid()}")
            time.sleep(600)


def read_metrics(path, rank=0):
    """The records of a MetricsLog, by key; a later record of a key replaces an earlier one
    (a resumed run redoes the steps after its checkpoint)."""
    file = Path(path).with_suffix(f".rank{rank}.jsonl")
    records = {}
    for line in file.read_text().splitlines():
        record = json.loads(line)
        records[record.pop("key")] = record
    return records


def write_config(path, **sections):
    """A YAML config for the CLI. Not named config.yaml: the CLI saves the config it ran with
    under that name in the run's folder."""
    Path(path).write_text(yaml.safe_dump(sections, sort_keys=False))
    return str(path)


def run_cli(args):
    """``handgrad`` in this process: (exit status, stderr lines, the CLI or None)."""
    err = io.StringIO()
    cli, status = None, 0
    argv, sys.argv = sys.argv, ["handgrad"]  # as on a command line: no pytest arguments beside args
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli = run(args)
        except SystemExit as exit:
            status = exit.code
        finally:
            sys.argv = argv
    return status, [line for line in err.getvalue().splitlines() if line.strip()], cli


@pytest.fixture(scope="module")
def one_thread():
    """Runs a test module with one intra-op thread, as its subprocesses are (subprocess_env).

    The networks here are tiny: on a busy machine, waking a second thread for a 16-row
    log_softmax can cost milliseconds. One thread count for every run also keeps runs
    that must agree bit for bit on the same arithmetic.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def subprocess_env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # as one_thread does in this process
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env["PYTHONWARNINGS"] = "ignore"
    return env


def final_state(checkpoint_path):
    """Weights and optimizer state of a checkpoint, loaded the safe way."""
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    return checkpoint["state_dict"], checkpoint["optimizer_states"]


class SignalAt(L.Callback):
    """Sends this process SIGINT (a Ctrl-C) ``times`` times while update ``update`` is being taken
    (at its optimizer step, when ``update`` updates are done)."""

    def __init__(self, update: int, times: int = 1):
        self.update, self.times = update, times

    def on_before_optimizer_step(self, trainer, module, optimizer):
        if trainer.global_step == self.update:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the handler runs before the next signal is sent
