"""Training curves from runs' metric files: the training loss per update (raw and smoothed), the
validation loss and accuracy per epoch; one run or several overlaid, one colour per run.

To run:  handgrad plot runs/digits runs/digits_stochastic --out compare.png
(``handgrad fit`` draws ``curves.png`` into its run directory by itself.)
"""
import argparse
import sys
from pathlib import Path

from handgrad.metrics_log import read_metrics

CURVES_FILE = "curves.png"


def smooth(values, span=None):
    """Exponential moving average, bias-corrected, over about ``span`` points (a 50th of the curve by default)."""
    span = span or max(5, len(values) // 50)
    alpha = 2.0 / (span + 1)
    out, average, weight = [], 0.0, 0.0
    for value in values:
        average = (1 - alpha) * average + alpha * value
        weight = (1 - alpha) * weight + alpha
        out.append(average / weight)
    return out


def load_run(path):
    """(label, metrics) for a run directory or a metrics.csv; one-line errors as ValueError."""
    path = Path(path)
    try:
        metrics = read_metrics(path)
    except (FileNotFoundError, ValueError) as error:
        if path.is_dir():
            raise ValueError(f"{path}: no metrics.csv in it") from None
        raise ValueError(f"{path}: no such run directory or metrics file" if not path.exists() else str(error)) from None
    if not metrics:
        raise ValueError(f"{path}: its metrics file holds no rows yet")
    run_dir = path if path.is_dir() else path.parent
    return run_dir.name or str(run_dir), metrics


def draw(runs, out):
    """Draw ``runs`` ([(label, metrics), ...]) into the figure file ``out``; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]  # Okabe-Ito
    fig, (ax_train, ax_val, ax_acc) = plt.subplots(1, 3, figsize=(15, 4.2))
    smoothed_top = 0.0
    for index, (label, metrics) in enumerate(runs):
        colour = palette[index % len(palette)]
        train = metrics.get("train_loss", [])
        if train:
            updates, values = [row[0] for row in train], [row[2] for row in train]
            ax_train.plot(updates, values, color=colour, alpha=0.25, linewidth=0.8)
            smoothed = smooth(values)
            smoothed_top = max(smoothed_top, max(smoothed))
            ax_train.plot(updates, smoothed, color=colour, linewidth=1.6, label=label)
        for axis, name in ((ax_val, "val_loss"), (ax_acc, "val_acc")):
            rows = metrics.get(name, [])
            if rows:
                axis.plot([row[1] + 1 for row in rows], [row[2] for row in rows], color=colour, marker="o",
                          markersize=3, linewidth=1.4, label=label)
    ax_train.set(title="training loss per update (faint: raw, solid: smoothed)", xlabel="update", ylabel="loss")
    if smoothed_top > 0:  # one-sample losses spike far above the trend: keep the trend readable
        ax_train.set_ylim(0, smoothed_top * 1.25)
    ax_val.set(title="validation loss per epoch", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="validation accuracy per epoch", xlabel="epoch", ylabel="accuracy")
    for axis in (ax_val, ax_acc):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in (ax_train, ax_val, ax_acc):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def curves(run_dir):
    """Draw ``<run_dir>/curves.png`` from ``<run_dir>/metrics.csv``; return its path."""
    return draw([load_run(run_dir)], Path(run_dir) / CURVES_FILE)


def main(args=None):
    """``handgrad plot RUN_DIR [RUN_DIR ...] [--out FILE]``: exit 0 with the figure's path, or 2 with
    one line per run that cannot be drawn (a wrong path, a run without metrics)."""
    parser = argparse.ArgumentParser(
        prog="handgrad plot",
        description="Draw the training curves of one or several runs into one figure, overlaid.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (or their metrics.csv)")
    parser.add_argument("--out", default=None,
                        help=f"figure file; default: RUN_DIR/{CURVES_FILE} for one run, ./{CURVES_FILE} for several")
    options = parser.parse_args(args)
    runs, errors = [], []
    for path in options.runs:
        try:
            runs.append(load_run(path))
        except ValueError as error:
            errors.append(str(error))
    for error in errors:
        print(f"handgrad plot: error: {error}", file=sys.stderr)
    if errors:
        sys.exit(2)
    out = options.out or (Path(options.runs[0]) / CURVES_FILE if len(runs) == 1 and Path(options.runs[0]).is_dir()
                          else Path(CURVES_FILE))
    labels = [label for label, _ in runs]
    if len(set(labels)) < len(labels):  # same folder names in different places: tell them apart by path
        runs = [(str(path), metrics) for path, (_, metrics) in zip(options.runs, runs)]
    print(draw(runs, out))


if __name__ == "__main__":
    main()
