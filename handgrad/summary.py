"""The few lines ``handgrad fit`` prints when it ends: what was trained, how it went, where it is.

    fit done: 30 epochs, 6750 updates, 12.4 s
    val_loss: best 0.0412 (epoch 27), last 0.0431 (epoch 30)
    val_acc:  best 0.9944 (epoch 21), last 0.9889 (epoch 30)
    checkpoints: runs/digits/checkpoints/best.ckpt (best), runs/digits/checkpoints/last.ckpt (last)
    metrics: runs/digits/metrics.csv
    curves: runs/digits/curves.png

Epochs count from 1 here, as in the per-epoch lines. ``summary_lines`` builds the text from the
trainer and the metric history, so an interrupted run can print the same.
"""
from lightning.pytorch.callbacks import ModelCheckpoint


def best_and_last(rows, higher_is_better):
    """(best value, its epoch, last value, its epoch) of [(update, epoch, value), ...]; epochs from 1.
    The first epoch to reach the best wins a tie, as ModelCheckpoint keeps it."""
    best = rows[0]
    for row in rows[1:]:
        if (row[2] > best[2]) if higher_is_better else (row[2] < best[2]):
            best = row
    return best[2], best[1] + 1, rows[-1][2], rows[-1][1] + 1


def checkpoint_paths(trainer):
    """['<path> (best)', '<path> (last)', ...] from the trainer's ModelCheckpoint callbacks."""
    paths = []
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint):
            if callback.best_model_path:
                paths.append(f"{callback.best_model_path} (best by {callback.monitor})" if callback.monitor
                             else f"{callback.best_model_path}")
            if callback.last_model_path and callback.last_model_path != callback.best_model_path:
                paths.append(f"{callback.last_model_path} (last)")
    return paths


def summary_lines(trainer, seconds, metrics=None, metrics_path=None, curves_path=None, verb="fit done"):
    """The summary as a list of lines. ``metrics`` is read_metrics' {metric: rows}, or None when not logged."""
    epochs = f"{trainer.current_epoch} epoch" + ("" if trainer.current_epoch == 1 else "s")
    lines = [f"{verb}: {epochs}, {trainer.global_step} updates, {seconds:.1f} s"]
    for name, higher in (("val_loss", False), ("val_acc", True)):
        rows = (metrics or {}).get(name)
        if rows:
            best, best_epoch, last, last_epoch = best_and_last(rows, higher)
            lines.append(f"{name + ':':<10}best {best:.4f} (epoch {best_epoch}), last {last:.4f} (epoch {last_epoch})")
        elif name in trainer.callback_metrics:
            lines.append(f"{name + ':':<10}last {float(trainer.callback_metrics[name]):.4f}")
    paths = checkpoint_paths(trainer)
    lines.append("checkpoints: " + (", ".join(paths) if paths else "none (no ModelCheckpoint callback)"))
    lines.append(f"metrics: {metrics_path}" if metrics_path else "metrics: no metrics.csv (trainer.logger is false, or a logger of your own)")
    if curves_path:
        lines.append(f"curves: {curves_path}")
    return lines
