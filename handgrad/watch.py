"""What the ``handgrad`` command adds to a run so that it can be watched: the default loggers and
callbacks, the guard against fitting over an earlier run's checkpoints, and the summary with
``curves.png`` when ``fit`` ends. The CLI calls these from its hooks (handgrad/cli.py).
"""
import csv
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import BasePredictionWriter, ModelCheckpoint, ProgressBar

from handgrad.console import progress_bar
from handgrad.metrics_log import MetricsCSV, TrainingLoss, default_loggers, read_metrics
from handgrad.summary import summary_lines


def add_overwrite_option(parser):
    parser.add_argument(
        "--overwrite", type=bool, default=False,
        help="fit only: start afresh in a run directory that holds an earlier run's checkpoints, deleting "
             "them (without it, such a fit stops and offers --ckpt_path last or a new directory)")


def trainer_additions(subcommand, config):
    """Trainer arguments that the CLI adds to the config's ``trainer`` for this subcommand."""
    trainer = config["trainer"]
    if config.get("overwrite") and subcommand != "fit":
        raise ValueError(f"overwrite: only fit writes checkpoints to overwrite; remove --overwrite from {subcommand}")
    additions = {}
    logger = trainer.get("logger")
    if subcommand == "fit" and logger in (None, True):
        additions["logger"] = default_loggers(trainer.get("default_root_dir") or os.getcwd())
    elif logger is None:
        additions["logger"] = False  # test, validate, predict: the results table goes to the console
    callbacks = trainer.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    added = []
    if trainer.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
        added.append(progress_bar())
    if subcommand == "fit" and not any(isinstance(c, TrainingLoss) for c in callbacks):
        added.append(TrainingLoss())
    if subcommand == "predict" and not any(isinstance(c, BasePredictionWriter) for c in callbacks):
        added.append(PredictionsCSV(trainer.get("default_root_dir") or os.getcwd()))
    if added:
        additions["callbacks"] = callbacks + added
    return additions


def checkpoint_dirs(trainer):
    """The folders the fit's ModelCheckpoint callbacks write to (as Lightning will resolve them when
    handgrad's MetricsCSV, or no logger, comes first)."""
    default = Path(trainer.default_root_dir) / "checkpoints"
    return sorted({Path(c.dirpath) if c.dirpath else default for c in trainer.callbacks if isinstance(c, ModelCheckpoint)})


class FitWatch:
    """Made at the start of ``fit``: refuses to fit over an earlier run's checkpoints (unless resumed or
    ``overwrite``), times the fit, and at its end draws curves.png and prints the summary."""

    def __init__(self, trainer, fit_config):
        self.trainer = trainer
        ckpt_path, overwrite = fit_config.get("ckpt_path"), fit_config.get("overwrite")
        if ckpt_path and overwrite:
            raise ValueError("overwrite: starts afresh, while ckpt_path resumes; give one of them")
        found = [path for folder in checkpoint_dirs(trainer) if folder.is_dir() for path in sorted(folder.glob("*.ckpt"))]
        if found and not ckpt_path:
            if not overwrite:
                run_dir = trainer.default_root_dir
                raise ValueError(
                    f"trainer.default_root_dir: {run_dir} already holds checkpoints ({found[0]}"
                    f"{f' and {len(found) - 1} more' if len(found) > 1 else ''}); resume with --ckpt_path last, "
                    f"fit into a new directory (--trainer.default_root_dir {run_dir.rstrip('/')}_2), "
                    f"or start afresh there with --overwrite true")
            if trainer.is_global_zero:
                for path in found:
                    path.unlink()
        self.start = time.perf_counter()

    def finish(self):
        """Draw curves.png from the run's metrics and print the summary (global rank zero only)."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self.start
        metrics = metrics_path = curves_path = None
        csv_logger = next((logger for logger in trainer.loggers if isinstance(logger, MetricsCSV)), None)
        if csv_logger is not None and csv_logger.path.is_file():
            csv_logger.close()
            metrics_path = csv_logger.path
            metrics = read_metrics(metrics_path)
            if metrics:
                from handgrad.plot import curves

                curves_path = curves(metrics_path.parent)
        print("\n".join(summary_lines(trainer, seconds, metrics, metrics_path, curves_path)), flush=True)


class PredictionsCSV(BasePredictionWriter):
    """``handgrad predict`` writes ``<run dir>/predictions.csv``: ``row,prediction``, one line per predicted
    row, with the datamodule's original labels when it has them (``decode``, as TableDataModule does)
    and its row numbers (``predict_rows``: the rows of the table, counted from 0 after the header)."""

    def __init__(self, run_dir):
        super().__init__(write_interval="epoch")
        self.path = Path(run_dir) / "predictions.csv"

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        if not trainer.is_global_zero:
            return
        flat = [int(value) for batch in predictions for value in batch.reshape(-1).tolist()]
        data = trainer.datamodule
        labels = data.decode(flat) if hasattr(data, "decode") else flat
        rows = getattr(data, "predict_rows", None) or list(range(len(flat)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["row", "prediction"])
            writer.writerows(zip(rows, labels))
        print(f"predictions: {self.path} ({len(flat)} rows)", flush=True)
