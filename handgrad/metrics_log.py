"""The metric history of a run: ``metrics.csv`` in the run directory, kept across resumes.

One row per value: ``update,epoch,metric,value``. ``update`` counts the parameter updates taken
when the value was logged (the Classifier's ``global_step``), so the training loss of update 37
is the row ``37,<epoch>,train_loss,<loss>``, and the validation metrics of an epoch sit at the
update that ended it. New metrics are new rows, never new columns: the file is only ever
appended to, and rewritten once, into a new file that replaces it whole, when a run resumes.
Read it with ``handgrad.metrics_log.read_metrics(run_dir)`` or, in pandas,
``pd.read_csv("runs/digits/metrics.csv").pivot_table(index="update", columns="metric", values="value")``.

``MetricsCSV`` (and ``TensorBoard``, when the ``tensorboard`` package is installed) are
Lightning loggers; ``TrainingLoss`` is the callback that hands them every update's training
loss (Lightning itself logs once per ``log_every_n_steps`` training steps, and a step here is a
block of updates) and keeps their clock in updates. ``default_loggers`` is what the ``handgrad``
command uses when the config leaves ``trainer.logger`` unset.
"""
import csv
import importlib.util
import math
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

METRICS_FILE = "metrics.csv"
HEADER = ["update", "epoch", "metric", "value"]
MAX_ROWS_PER_METRIC = 50_000  # training-loss rows per run, above which updates are averaged in groups
MAX_GROUP = 50  # never fewer than one training-loss row per 50 updates


def read_metrics(path):
    """{metric: [(update, epoch, value), ...]} from a run directory or a metrics.csv, in file order.

    A last line left half-written (a killed run, a full disk) is skipped. Raises FileNotFoundError
    when there is no metrics file and ValueError when the file is not handgrad's.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file")
    history = {}
    with open(path, newline="") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if header != HEADER:
            raise ValueError(f"{path}: not a handgrad metrics file (expected the header {','.join(HEADER)}, got {header})")
        for row in rows:
            try:
                update, epoch, metric, value = int(row[0]), int(row[1]), row[2], float(row[3])
            except (ValueError, IndexError):
                continue  # a line cut short by a kill
            history.setdefault(metric, []).append((update, epoch, value))
    return history


class MetricsCSV(Logger):
    """Lightning logger writing ``metrics.csv`` into ``save_dir`` (the run directory).

    Its ``name`` and ``version`` are empty, so ModelCheckpoint keeps writing to
    ``<save_dir>/checkpoints``. Values are written at ``self.update`` (set by ``TrainingLoss``),
    not at Lightning's step, which counts blocks of updates.

    Args:
        save_dir: the run directory.
    """

    def __init__(self, save_dir: str):
        super().__init__()
        self._save_dir = str(save_dir)
        self.path = Path(save_dir) / METRICS_FILE
        self.update, self.epoch = 0, 0
        self._file = None

    @property
    def name(self):
        return ""

    @property
    def version(self):
        return ""

    @property
    def save_dir(self):
        return self._save_dir

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs):
        """Nothing to do: the CLI saves the whole configuration as config.yaml beside the metrics."""

    @rank_zero_only
    def log_metrics(self, metrics, step=None):
        epoch = int(metrics.get("epoch", self.epoch))
        rows = [(self.update, epoch, name, float(value)) for name, value in metrics.items() if name not in ("epoch", "step")]
        self._append(rows)

    @rank_zero_only
    def resume_at(self, update):
        """Keep the rows up to ``update`` (the checkpoint's), drop those logged after it by the run that
        was stopped, and append from here on. The kept rows go into a new file that then replaces the
        old one, so a failure on the way (a full disk) leaves the old history whole."""
        self.close()
        kept = []
        if update > 0 and self.path.is_file():
            with open(self.path, newline="") as file:
                rows = csv.reader(file)
                if next(rows, None) == HEADER:
                    for row in rows:
                        try:
                            if len(row) == 4 and int(row[0]) <= update:
                                float(row[3])
                                kept.append(row)
                        except ValueError:
                            continue
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(self.path.name + ".new")
        with open(fresh, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(HEADER)
            writer.writerows(kept)
            file.flush()
            os.fsync(file.fileno())
        os.replace(fresh, self.path)
        self.update = update

    def _append(self, rows):
        if not rows:
            return
        if self._file is None:
            new = not self.path.is_file()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", newline="")
            if new:
                self._file.write(",".join(HEADER) + "\n")
        self._file.write("".join(f"{u},{e},{name},{value!r}\n" for u, e, name, value in rows))

    @rank_zero_only
    def save(self):
        if self._file is not None:
            self._file.flush()

    @rank_zero_only
    def finalize(self, status):
        self.close()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def tensorboard_installed():
    return importlib.util.find_spec("tensorboard") is not None


def tensorboard_logger(save_dir):
    """A TensorBoardLogger writing to ``<save_dir>/tensorboard``, with its x axis in updates."""
    from lightning.pytorch.loggers import TensorBoardLogger

    class TensorBoard(TensorBoardLogger):
        update, epoch = 0, 0

        def log_metrics(self, metrics, step=None):
            super().log_metrics(metrics, self.update)

    return TensorBoard(save_dir=str(save_dir), name="tensorboard", version="", default_hp_metric=False)


def default_loggers(run_dir):
    """What ``handgrad fit`` logs to unless the config says otherwise: metrics.csv, plus TensorBoard
    when the ``tensorboard`` package is installed (``pip install -e '.[tensorboard]'``)."""
    loggers = [MetricsCSV(run_dir)]
    if tensorboard_installed():
        loggers.append(tensorboard_logger(run_dir))
    return loggers


def group_size(total_updates, every_n_updates=None):
    """Updates averaged into one training-loss row: 1 (every update) unless the run is long."""
    if every_n_updates is not None:
        return every_n_updates
    if total_updates is None:
        return MAX_GROUP
    return min(MAX_GROUP, max(1, math.ceil(total_updates / MAX_ROWS_PER_METRIC)))


class TrainingLoss(L.Callback):
    """Logs the training loss of every update (or the mean of every ``every_n_updates``) to all loggers,
    and keeps handgrad's loggers' clock in updates. On a resumed fit it first cuts the metric history
    back to the checkpoint's update (``MetricsCSV.resume_at``).

    A row never averages updates of two Lightning steps: each step's rows are written at its end, so
    a checkpoint (saved between steps) never lies ahead of the history.

    Args:
        every_n_updates: updates per training-loss row. Default: None: every update, or for runs of
            more than 50,000 updates the fewest per row that keep 50,000 rows (at most 50).
    """

    def __init__(self, every_n_updates: int | None = None):
        if every_n_updates is not None and (isinstance(every_n_updates, bool) or not isinstance(every_n_updates, int)
                                            or not 1 <= every_n_updates <= MAX_GROUP):
            raise ValueError(f"TrainingLoss: every_n_updates must be an int in 1..{MAX_GROUP} or None, got {every_n_updates!r}")
        self.every_n_updates = every_n_updates
        self.group = every_n_updates or 1

    def _set_clock(self, trainer):
        for logger in trainer.loggers:
            if hasattr(logger, "update"):
                logger.update, logger.epoch = trainer.global_step, trainer.current_epoch

    def on_train_start(self, trainer, pl_module):
        for logger in trainer.loggers:
            if isinstance(logger, MetricsCSV):
                logger.resume_at(trainer.global_step)
        self.group = group_size(self._total_updates(trainer), self.every_n_updates)
        self._set_clock(trainer)

    @staticmethod
    def _total_updates(trainer):
        loader = trainer.train_dataloader
        per_epoch = getattr(loader, "updates_per_epoch", None)
        if per_epoch is None:
            per_epoch = trainer.num_training_batches if math.isfinite(trainer.num_training_batches) else None
        totals = []
        if per_epoch is not None and trainer.max_epochs is not None and trainer.max_epochs > 0:
            totals.append(per_epoch * trainer.max_epochs)
        if trainer.max_steps is not None and trainer.max_steps > 0:
            totals.append(trainer.max_steps)  # global_step counts updates
        return min(totals) if totals else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        losses = outputs.get("update_losses") if isinstance(outputs, dict) else None
        if losses is None:
            losses = [outputs["loss"] if isinstance(outputs, dict) else outputs]
        losses = losses.tolist() if hasattr(losses, "tolist") else [float(loss) for loss in losses]
        first = trainer.global_step - len(losses) + 1  # the update number of losses[0]
        epoch = trainer.current_epoch
        start = 0
        while start < len(losses):
            update = first + start
            end = min(len(losses), start + self.group - (update - 1) % self.group)  # groups end at multiples of the size
            value = sum(losses[start:end]) / (end - start)
            for logger in trainer.loggers:
                if hasattr(logger, "update"):
                    logger.update = first + end - 1
                    logger.log_metrics({"train_loss": value, "epoch": epoch})
                else:
                    logger.log_metrics({"train_loss": value, "epoch": epoch}, step=first + end - 1)
            start = end
        for logger in trainer.loggers:
            logger.save()
        self._set_clock(trainer)

    def on_validation_start(self, trainer, pl_module):
        self._set_clock(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        self._set_clock(trainer)
