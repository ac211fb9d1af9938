"""What ``handgrad`` prints while it trains: a progress bar that counts updates, one line per epoch
when the output is not a terminal, and none of the third-party notices a user cannot act on.

A Lightning training step here takes a block of updates (``updates_per_step``), so a bar that
counts steps reads "8/8" for an epoch of 512 one-sample updates. ``UpdateBar`` keeps Lightning's
bar and shows, after it, the updates taken so far and how many each step takes. Written to a file
or a pipe, a bar is a stream of carriage returns; ``EpochLines`` writes one plain line per epoch.
"""
import logging
import sys
import time
import warnings

from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar


def quiet():
    """Silence the notices that are not about the user's run: Lightning's advertisement for its cloud
    logger, and a deprecation inside Lightning's own use of torch's pytree module."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # handgrad logs the training loss itself, per update: Lightning's log_every_n_steps does not apply
    warnings.filterwarnings("ignore", message=r"The number of training batches .* is smaller than the logging interval")
    # a fit into a folder that holds checkpoints is refused by the CLI unless resumed or overwritten
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # handgrad predict's writer numbers the rows itself; Lightning would track batch indices for it
    warnings.filterwarnings("ignore", message=r"Couldn't infer the batch indices fetched from your dataloader")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_not_the_litlogger_tip)  # the same filter object: added once


def _not_the_litlogger_tip(record):
    return "litlogger" not in str(record.getMessage())


def update_counts(trainer):
    """{'updates': updates taken, 'per step': updates per training step} for the bar's postfix."""
    loader = trainer.train_dataloader
    counts = {"updates": trainer.global_step}
    per_step = getattr(loader, "updates_per_block", None)
    if per_step is not None:
        counts["per step"] = min(per_step, getattr(loader, "updates_per_epoch", per_step))
    return counts


class UpdateBar(TQDMProgressBar):
    """Lightning's bar, its postfix led by the updates taken and the updates per step, its epochs
    counted from 1 as in the per-epoch lines and the summary."""

    def on_train_epoch_start(self, trainer, pl_module):
        super().on_train_epoch_start(trainer, pl_module)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}")

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)  # handgrad's run directory has no version number
        if trainer.training:
            items = {**update_counts(trainer), **items}
        return items


def _number(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class EpochLines(ProgressBar):
    """One line per epoch, for output that is not a terminal:
    ``epoch 3/30: 135 updates (45 per epoch), train_loss 0.21, val_loss 0.18, val_acc 0.95, 0.4 s``."""

    def __init__(self):
        super().__init__()
        self._enabled = True
        self._start = None

    def disable(self):
        self._enabled = False

    def enable(self):
        self._enabled = True

    @property
    def is_enabled(self):
        return self._enabled

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if not self._enabled:
            return
        metrics = {name: value for name, value in self.get_metrics(trainer, pl_module).items() if name != "v_num"}
        loader = trainer.train_dataloader
        per_epoch = getattr(loader, "updates_per_epoch", None)
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        parts = [f"{trainer.global_step} updates" + (f" ({per_epoch} per epoch)" if per_epoch else "")]
        parts += [f"{name} {_number(value)}" for name, value in metrics.items()]
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        print(f"epoch {trainer.current_epoch + 1}{epochs}: " + ", ".join(parts), file=sys.stdout, flush=True)


def progress_bar(is_terminal=None):
    """The bar for this output: UpdateBar on a terminal, EpochLines otherwise (Lightning's bar writes to stderr)."""
    if is_terminal is None:
        is_terminal = sys.stderr.isatty()
    return UpdateBar() if is_terminal else EpochLines()
