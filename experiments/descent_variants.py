"""Batch, stochastic and mini-batch gradient descent on the digits: the same network, three descents.

Each variant trains the same MLP (64-30-10, sigmoid, cross-entropy, plain gradient descent,
lr 0.5) through the CLI's training path (HandgradCLI builds the Classifier and the
DigitsDataModule as `handgrad fit` does), for several seeds. Only the samples per update
differ: all 1,259 training samples (batch), 1 (stochastic), 32 (mini-batch). The figure shows the training
loss against updates, epochs and training wall time, and two noise figures:

- loss noise: the standard deviation of the change of the update's loss from one update
  to the next (what makes the per-update curves look ragged);
- gradient noise: at the initial parameters (the same network for all three variants of
  a seed), the mean of |g_update - g_full| / |g_full| over 100 updates drawn as the
  variant draws them (0 for batch descent by definition).

The table adds the final test accuracy and the training time per epoch (validation off,
time measured from each epoch's start to its last update; noisy on a shared machine).

To run:  python -m experiments.descent_variants [--quick] [--out experiments/results]
(the same training from the shell, one run:  handgrad fit --model.hidden_sizes=[30]
 --model.activation=sigmoid --data=datamodules.digits.DigitsDataModule --data.descent=stochastic
 --optimizer=handgrad.optim.GradientDescent --optimizer.lr=0.5 --trainer.max_epochs=30)
"""
import argparse
import csv
import statistics
from pathlib import Path

import lightning as L
import numpy as np
import torch

from experiments.cli_runs import build, digits_args
from experiments.plotting import OKABE_ITO, plt, save, style
from handgrad.backprop import accumulate_gradients, cost
from handgrad.callbacks import UpdateLosses

VARIANTS = ("batch", "minibatch", "stochastic")
COLOURS = {"batch": OKABE_ITO["blue"], "minibatch": OKABE_ITO["green"], "stochastic": OKABE_ITO["vermillion"]}
LABELS = {"batch": "batch (all samples)", "minibatch": "mini-batch (32)", "stochastic": "stochastic (1)"}
LR, HIDDEN, BATCH_SIZE = 0.5, [30], 32
LAST = 200  # updates shown raw
COLUMNS = ["descent", "samples_per_update", "updates_per_epoch", "seeds", "epochs",
           "final_train_loss_mean", "final_train_loss_std", "test_acc_mean", "test_acc_std",
           "seconds_per_epoch_mean", "seconds_per_epoch_std", "loss_noise_mean", "loss_noise_std",
           "grad_noise_mean", "grad_noise_std"]


class EpochTrainLoss(L.Callback):
    """The cost on the whole training set before training and after each epoch (outside the timed part)."""

    def __init__(self):
        self.losses = []

    def _record(self, trainer, module):
        data = trainer.datamodule
        with torch.no_grad():
            self.losses.append(cost(module(data.train_inputs), data.train_targets, module.loss_name, "torch").item())

    def on_train_start(self, trainer, module):
        self._record(trainer, module)

    def on_train_epoch_end(self, trainer, module):
        self._record(trainer, module)


def flat_gradient(network, inputs, targets):
    """The gradient of the mean cost over these samples, by handgrad's explicit backprop, as one vector."""
    for param in network.parameters():
        param.grad = None
    accumulate_gradients(network, inputs, targets, "cross_entropy", 1.0 / len(inputs))
    return torch.cat([param.grad.flatten() for param in network.parameters()])


def gradient_noise(network, data, update_size, draws, seed):
    """Mean over ``draws`` random updates of |g_update - g_full| / |g_full| at the current parameters."""
    inputs, targets = data.train_inputs, data.train_targets
    full = flat_gradient(network, inputs, targets)
    generator = torch.Generator().manual_seed(seed)
    ratios = []
    for _ in range(draws):
        rows = torch.randperm(len(inputs), generator=generator)[:update_size]
        ratios.append(((flat_gradient(network, inputs[rows], targets[rows]) - full).norm() / full.norm()).item())
    for param in network.parameters():
        param.grad = None  # leave the network as training expects it
    return statistics.fmean(ratios)


def run(descent, seed, epochs):
    """Train one variant from one seed; returns its curves and numbers."""
    updates, epoch_loss = UpdateLosses(), EpochTrainLoss()
    trainer, model, data = build(digits_args(seed, epochs, HIDDEN, "sigmoid", "cross_entropy", descent, LR,
                                             BATCH_SIZE), callbacks=[updates, epoch_loss])
    size = {"batch": len(data.train_inputs), "minibatch": BATCH_SIZE, "stochastic": 1}[descent]
    # at the initial network, which one seed makes the same for all three variants
    grad_noise = 0.0 if descent == "batch" else gradient_noise(model.network, data, size, 100, seed)
    trainer.fit(model, data)
    test_acc = trainer.test(model, data, verbose=False)[0]["test_acc"]
    losses = np.array(updates.losses)
    epoch_times = updates.epoch_seconds[1:] or updates.epoch_seconds  # the first epoch pays for warm-up
    return dict(
        update_losses=losses, epoch_losses=np.array(epoch_loss.losses),
        epoch_clock=np.cumsum([0.0, *updates.epoch_seconds]), size=size,
        updates_per_epoch=len(losses) // epochs, test_acc=test_acc, final_loss=epoch_loss.losses[-1],
        seconds_per_epoch=statistics.fmean(epoch_times),
        loss_noise=float(np.diff(losses).std()) if len(losses) > 1 else float("nan"),
        grad_noise=grad_noise,
    )


def summarise(results, epochs):
    rows = []
    for descent, runs in results.items():
        row = dict(descent=descent, samples_per_update=runs[0]["size"], updates_per_epoch=runs[0]["updates_per_epoch"],
                   seeds=len(runs), epochs=epochs)
        for key, column in (("final_loss", "final_train_loss"), ("test_acc", "test_acc"),
                            ("seconds_per_epoch", "seconds_per_epoch"), ("loss_noise", "loss_noise"),
                            ("grad_noise", "grad_noise")):
            values = np.array([run[key] for run in runs], dtype=float)
            row[f"{column}_mean"] = float(values.mean())
            row[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def band(ax, x, curves, colour, label, **style):
    """Mean of the seeds' curves as a line, their min-max as a shaded band."""
    curves = np.stack(curves)
    ax.plot(x, curves.mean(0), color=colour, label=label, lw=1.8, **style)
    ax.fill_between(x, curves.min(0), curves.max(0), color=colour, alpha=0.25, lw=0)


def ordered_legend(ax, **kwargs):
    """Legend in VARIANTS order, whatever order the curves were drawn in."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: [LABELS[d] in labels[i] for d in VARIANTS].index(True))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], **kwargs)


def plot(results, rows, epochs, path):
    style()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    (by_update, by_epoch, by_time), (last, noise, accuracy) = axes
    for descent in reversed(VARIANTS):  # stochastic at the back, batch in front
        runs, colour, label = results[descent], COLOURS[descent], LABELS[descent]
        epoch_ends = np.arange(1, epochs + 1) * runs[0]["updates_per_epoch"]
        band(by_update, epoch_ends, [run["epoch_losses"][1:] for run in runs], colour, label, marker="o", ms=3)
        band(by_epoch, np.arange(epochs + 1), [run["epoch_losses"] for run in runs], colour, label)
        clock = np.mean([run["epoch_clock"][1:] for run in runs], axis=0)
        band(by_time, clock, [run["epoch_losses"][1:] for run in runs], colour, label, marker="o", ms=3)
        tail = runs[0]["update_losses"][-LAST:]
        last.plot(np.arange(-len(tail) + 1, 1), tail, color=colour, lw=1, label=label, marker="." if len(tail) < 50 else None)
    by_update.set(xscale="log", xlabel="parameter updates (log scale; 1 point per epoch)",
                  ylabel="training-set loss (nats)", title="Loss against updates")
    by_epoch.set(xlabel="epochs (passes over the training set)", ylabel="training-set loss (nats)",
                 title="Loss against epochs")
    by_time.set(xscale="log", xlabel="training wall time (s, log scale; 1 point per epoch)",
                ylabel="training-set loss (nats)", title="Loss against wall time")
    last.set(yscale="log", xlabel="update (0 = the last one)", ylabel="loss of the update's samples (nats, log)",
             title=f"Per-update loss, last {LAST} updates (seed 0)")
    last.set_ylim(top=1e4)  # headroom for the legend
    for ax in (by_update, by_epoch, by_time):
        ordered_legend(ax)
    ordered_legend(last, loc="upper left", fontsize=8)
    x = np.arange(len(VARIANTS))
    width = 0.38
    ordered = [next(row for row in rows if row["descent"] == d) for d in VARIANTS]
    for offset, key, hatch, name in (
            (-width / 2, "loss_noise", "", "loss noise: std of the update-to-update\nchange of the update's loss (nats)"),
            (width / 2, "grad_noise", "//", "gradient noise at the initial network:\nmean |g_update - g_full| / |g_full|")):
        values = [max(row[f"{key}_mean"], 1e-4) for row in ordered]  # batch's exact 0 drawn at the floor
        noise.bar(x + offset, values, width, yerr=[row[f"{key}_std"] for row in ordered], capsize=3,
                  color=[COLOURS[d] for d in VARIANTS], hatch=hatch, edgecolor="black", label=name)
    noise.text(x[0] + width / 2, 1.3e-4, "0\n(exact)", ha="center", fontsize=8)
    noise.set(yscale="log", ylim=(1e-4, 1e3), xticks=x, xticklabels=[LABELS[d].replace(" (", "\n(") for d in VARIANTS],
              ylabel="noise (log scale; see legend)", title="Noise of the updates")
    legend = noise.legend(loc="upper left", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_facecolor("white")
    accuracy.bar(x, [row["test_acc_mean"] for row in ordered], 0.6, yerr=[row["test_acc_std"] for row in ordered],
                 capsize=3, color=[COLOURS[d] for d in VARIANTS], edgecolor="black")
    for index, row in enumerate(ordered):
        accuracy.text(index, 0.03, f"{row['seconds_per_epoch_mean'] * 1000:.0f} ms\nper epoch", ha="center",
                      fontsize=8, color="white", fontweight="bold")
    accuracy.set(ylim=(0, 1), xticks=x, xticklabels=[LABELS[d].replace(" (", "\n(") for d in VARIANTS], ylabel="test accuracy (fraction)",
                 title=f"Test accuracy after {epochs} epochs")
    fig.suptitle(f"Descent variants on the 8x8 digits: MLP 64-30-10, sigmoid, cross-entropy, plain gradient descent "
                 f"lr {LR}; lines: mean of {len(results['batch'])} seeds, bands: min-max, error bars: std", fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def write_table(rows, out):
    with open(out / "descent_variants.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows({key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
                         for row in rows)
    lines = ["| descent | samples/update | updates/epoch | final train loss | test accuracy | s/epoch | loss noise | gradient noise |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['descent']} | {row['samples_per_update']} | {row['updates_per_epoch']} "
            f"| {row['final_train_loss_mean']:.3f} ± {row['final_train_loss_std']:.3f} "
            f"| {row['test_acc_mean']:.3f} ± {row['test_acc_std']:.3f} "
            f"| {row['seconds_per_epoch_mean']:.3f} ± {row['seconds_per_epoch_std']:.3f} "
            f"| {row['loss_noise_mean']:.3g} ± {row['loss_noise_std']:.2g} "
            f"| {row['grad_noise_mean']:.3g} ± {row['grad_noise_std']:.2g} |")
    (out / "descent_variants.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = parser.parse_args(argv)
    seeds, epochs = ((0, 1), 2) if args.quick else ((0, 1, 2), 30)
    torch.set_num_threads(1)  # tiny matrices: threads cost more than they give, and timings are steadier
    args.out.mkdir(parents=True, exist_ok=True)
    results = {descent: [run(descent, seed, epochs) for seed in seeds] for descent in VARIANTS}
    rows = summarise(results, epochs)
    print(write_table(rows, args.out))
    print("figure:", plot(results, rows, epochs, args.out / "descent_variants.png"))


if __name__ == "__main__":
    main()
