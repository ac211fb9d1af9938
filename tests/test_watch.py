"""Watching a run: metrics.csv with every update's loss, surviving a kill and a resume; curves.png and the
summary after fit; handgrad plot; a quiet console; no fit over an earlier run's checkpoints."""
import csv
import logging
import multiprocessing
import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest

from datamodules import DigitsDataModule
from handgrad.cli import main
from handgrad.console import UpdateBar, update_counts
from handgrad.lightning import Classifier
from handgrad.metrics_log import MAX_GROUP, group_size, read_metrics

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "experiments" / "configs" / "digits_nll.yaml")


def fit(run_dir, *extra):
    main(["fit", "--config", CONFIG, "--trainer.default_root_dir", str(run_dir), *extra])


def rows_of(run_dir):
    with open(Path(run_dir) / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def stochastic_run(tmp_path_factory):
    """One short fit by stochastic descent, its console captured as a pipe would see it (not a terminal):
    stdout, stderr, Lightning's log records and the warnings raised, as one text."""
    import io
    import sys
    import warnings

    run_dir = tmp_path_factory.mktemp("watch") / "stochastic"
    out, err, records = io.StringIO(), io.StringIO(), []
    handler = logging.Handler()
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    for logger in loggers:
        logger.addHandler(handler)
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # everything is recorded unless handgrad's CLI silences it
            fit(run_dir, "--trainer.max_epochs", "2", "--data.init_args.descent", "stochastic")
    finally:
        sys.stdout, sys.stderr = old
        for logger in loggers:
            logger.removeHandler(handler)
    noise = " ".join([str(r.getMessage()) for r in records] + [str(w.message) for w in caught])
    return run_dir, out.getvalue(), err.getvalue(), noise


def test_fit_logs_every_update_and_ends_with_curves_and_a_summary(stochastic_run):
    run_dir, out, err, _ = stochastic_run
    rows = rows_of(run_dir)
    train = [int(row["update"]) for row in rows if row["metric"] == "train_loss"]
    updates_per_epoch = 1259  # 70% of the 1,797 digits (per class, rounded), one sample per update
    assert train == list(range(1, 2 * updates_per_epoch + 1))  # every update once, in order
    assert {row["epoch"] for row in rows if row["metric"] == "train_loss"} == {"0", "1"}
    val = [(row["update"], row["epoch"]) for row in rows if row["metric"] == "val_acc"]
    assert val == [(str(updates_per_epoch), "0"), (str(2 * updates_per_epoch), "1")]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "curves.png").stat().st_size > 20_000
    summary = out.strip().splitlines()[-6:]
    assert summary[0].startswith(f"fit done: 2 epochs, {2 * updates_per_epoch} updates, ")
    assert summary[1].startswith("val_loss: best ") and summary[2].startswith("val_acc:  best ")
    assert str(run_dir / "checkpoints" / "best.ckpt") in summary[3]
    assert summary[-1] == f"curves: {run_dir / 'curves.png'}"


def test_the_console_is_quiet_and_plain_when_not_a_terminal(stochastic_run):
    _, out, err, logged = stochastic_run
    everything = out + err + logged
    assert "litlogger" not in everything and "LeafSpec" not in everything
    assert "\r" not in out + err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert "1259 updates (1259 per epoch)" in epoch_lines[0] and "val_acc" in epoch_lines[0]


def test_the_bar_counts_updates():
    loader = SimpleNamespace(updates_per_block=64, updates_per_epoch=1258)
    assert update_counts(SimpleNamespace(train_dataloader=loader, global_step=130)) == {"updates": 130, "per step": 64}
    batch = SimpleNamespace(updates_per_block=64, updates_per_epoch=1)
    assert update_counts(SimpleNamespace(train_dataloader=batch, global_step=3))["per step"] == 1


def test_the_bar_counts_epochs_from_one(tmp_path):
    bar = UpdateBar()
    trainer = L.Trainer(max_epochs=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, callbacks=[bar], default_root_dir=tmp_path)
    trainer.fit(Classifier(hidden_sizes=[8]), DigitsDataModule(updates_per_step=64))
    assert trainer.current_epoch == 2 and bar.train_progress_bar.desc.startswith("Epoch 2")


def test_long_runs_average_at_most_fifty_updates_per_row():
    assert group_size(43_000) == 1
    assert group_size(1_620_000) == 33
    assert group_size(10**9) == MAX_GROUP
    assert group_size(None) == MAX_GROUP and group_size(10**9, every_n_updates=1) == 1


def test_fit_over_an_earlier_runs_checkpoints_stops_with_one_line(stochastic_run, capsys, tmp_path):
    run_dir = stochastic_run[0]
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.rglob("*"))
    with pytest.raises(SystemExit) as info:
        fit(run_dir, "--trainer.max_epochs", "1")
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1
    assert "already holds checkpoints" in err[0] and "--ckpt_path last" in err[0] and "--overwrite true" in err[0]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.rglob("*")) == before  # nothing touched


def kill_after(run_dir, update):
    """The child of a fork: fit, and die like a killed process (no clean-up) once ``update`` updates are taken."""
    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step >= update:
                os._exit(9)

    from handgrad import cli

    original = cli.HandgradCLI.instantiate_trainer

    def with_kill(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, Kill())
        return trainer

    cli.HandgradCLI.instantiate_trainer = with_kill
    fit(run_dir, *SMALL_BLOCKS)


SMALL_BLOCKS = ["--trainer.max_epochs", "3", "--trainer.enable_progress_bar", "false",
                "--data.init_args.updates_per_step", "8"]  # 40 updates per epoch in 5 steps


def test_a_killed_fit_resumed_from_last_leaves_one_history(tmp_path):
    run_dir = tmp_path / "killed"
    child = multiprocessing.get_context("fork").Process(target=kill_after, args=(run_dir, 40 + 20))
    child.start()
    child.join(300)
    assert child.exitcode == 9
    logged = [int(row["update"]) for row in rows_of(run_dir) if row["metric"] == "train_loss"]
    assert max(logged) > 40  # the history ran past the epoch-1 checkpoint (update 40) before the kill
    fit(run_dir, *SMALL_BLOCKS, "--ckpt_path", "last")
    history = read_metrics(run_dir)
    assert [row[0] for row in history["train_loss"]] == list(range(1, 121))  # no gap, no update twice
    assert [(row[0], row[1]) for row in history["val_loss"]] == [(40, 0), (80, 1), (120, 2)]
    assert (run_dir / "curves.png").is_file()


def test_overwrite_starts_afresh(tmp_path, capsys):
    run_dir = tmp_path / "again"
    quick = ["--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false", "--trainer.limit_train_batches", "1"]
    fit(run_dir, *quick)
    fit(run_dir, *quick, "--overwrite", "true")
    counts = Counter(row["metric"] for row in rows_of(run_dir))
    assert counts["train_loss"] == 40 and counts["val_acc"] == 1  # one run's rows, not two


def test_plot_overlays_runs_and_names_each_bad_path(stochastic_run, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.csv").write_text("update,epoch,metric,value\n1,0,train_loss,2.0\n2,0,train_loss,1.5\n"
                                       "2,0,val_loss,1.4\n2,0,val_acc,0.5\n")
    out = tmp_path / "both.png"
    assert main(["plot", str(stochastic_run[0]), str(other), "--out", str(out)]) is None
    assert capsys.readouterr().out.strip() == str(out) and out.stat().st_size > 20_000
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as info:
        main(["plot", str(tmp_path / "nope"), str(tmp_path / "empty"), str(other)])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 2
    assert "nope" in err[0] and "no metrics.csv" in err[1]
