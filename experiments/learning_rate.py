"""The learning rate: too small, good, too large, on the digits.

The same MLP as the descent experiment (64-30-10, sigmoid, cross-entropy), trained by
mini-batch gradient descent (32 samples per update) through the CLI's training path,
with learning rates from 0.003 to 100, three seeds each. The left figure shows the loss
of every update for three of them: too small (0.01: after 20 epochs the loss has
hardly moved), good (1) and too large (30: the first updates throw the logits far
out, the loss jumps above its starting value and stays there, bouncing). The right
figure shows the sweep: the mean loss of the last epoch against the learning rate.

To run:  python -m experiments.learning_rate [--quick] [--out experiments/results]
(one run from the shell:  handgrad fit --model.hidden_sizes=[30] --model.activation=sigmoid
 --data=datamodules.digits.DigitsDataModule --optimizer=handgrad.optim.GradientDescent
 --optimizer.lr=30 --trainer.max_epochs=20)
"""
import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from experiments.cli_runs import build, digits_args
from experiments.plotting import OKABE_ITO, plt, save, style
from handgrad.callbacks import UpdateLosses

SHOWN = {0.01: ("too small", OKABE_ITO["blue"]), 1.0: ("good", OKABE_ITO["green"]),
         30.0: ("too large", OKABE_ITO["vermillion"])}
SWEEP = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
WINDOW = 20  # updates in the running mean drawn over the raw losses (half an epoch)
COLUMNS = ["lr", "role", "seeds", "epochs", "first_loss", "last_epoch_loss_mean", "last_epoch_loss_std",
           "max_loss", "test_acc_mean", "diverged"]


def run(lr, seed, epochs):
    updates = UpdateLosses()
    trainer, model, data = build(digits_args(seed, epochs, [30], "sigmoid", "cross_entropy", "minibatch", lr),
                                 callbacks=[updates])
    trainer.fit(model, data)
    test_acc = trainer.test(model, data, verbose=False)[0]["test_acc"]
    return np.array(updates.losses), test_acc


def running_mean(values, window):
    """Mean of each value and the window - 1 before it (fewer at the start, so the curve starts at update 1)."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def sweep(learning_rates, seeds, epochs):
    rows, curves = [], {}
    for lr in learning_rates:
        runs = [run(lr, seed, epochs) for seed in seeds]
        losses = np.stack([losses for losses, _ in runs])  # (seeds, updates)
        per_epoch = losses.shape[1] // epochs
        last_epoch = losses[:, -per_epoch:].mean(1)
        first = losses[:, 0].mean()
        rows.append(dict(
            lr=lr, role=SHOWN.get(lr, ("", None))[0], seeds=len(seeds), epochs=epochs, first_loss=first,
            last_epoch_loss_mean=last_epoch.mean(), last_epoch_loss_std=last_epoch.std(ddof=1) if len(seeds) > 1 else 0.0,
            max_loss=losses.max(), test_acc_mean=float(np.mean([acc for _, acc in runs])),
            diverged=bool(last_epoch.mean() > first or not np.isfinite(losses).all()),
        ))
        curves[lr] = losses
    return rows, curves


def plot(rows, curves, epochs, path):
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw=dict(width_ratios=[1.4, 1]))
    for lr, (role, colour) in SHOWN.items():
        if lr not in curves:
            continue
        losses = curves[lr]
        steps = np.arange(1, losses.shape[1] + 1)
        left.plot(steps, losses[0], color=colour, lw=0.5, alpha=0.3)
        smooth = np.stack([running_mean(seed_losses, WINDOW) for seed_losses in losses])
        left.plot(steps, smooth.mean(0), color=colour, lw=2, label=f"lr {lr:g} ({role})")
    left.axhline(np.log(10), color="grey", ls=":", lw=1.2, zorder=0, label="log 10: guessing among 10 classes")
    left.set(xscale="log", yscale="log", xlabel="parameter updates (32 samples each; log scale)", ylabel="loss of the update's samples (nats, log)",
             title=f"Loss curves; faint: every update (seed 0), bold: mean of the last {WINDOW} updates (mean of seeds)")
    left.title.set_fontsize(10)
    left.legend(loc="lower left")
    lrs = [row["lr"] for row in rows]
    right.errorbar(lrs, [row["last_epoch_loss_mean"] for row in rows], yerr=[row["last_epoch_loss_std"] for row in rows],
                   color="black", marker="o", capsize=3, label="mean loss of the last epoch (± std over seeds)")
    right.axhline(np.log(10), color="grey", ls=":", lw=1.2, zorder=0, label="log 10")
    for row in rows:
        if row["lr"] in SHOWN:
            role, colour = SHOWN[row["lr"]]
            right.scatter(row["lr"], row["last_epoch_loss_mean"], s=140, color=colour, zorder=5, label=role)
    right.set(xscale="log", yscale="log", xlabel="learning rate (log scale)", ylabel=f"loss after {epochs} epochs (nats, log)",
              title="The sweep: too small learns slowly, too large does not learn")
    right.legend(loc="upper center", fontsize=8)
    fig.suptitle(f"Learning rate on the 8x8 digits: MLP 64-30-10, sigmoid, cross-entropy, mini-batch descent, "
                 f"{epochs} epochs, {rows[0]['seeds']} seeds", fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def write_table(rows, out):
    with open(out / "learning_rate.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows({key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
                         for row in rows)
    lines = ["| lr | role | first loss | last-epoch loss | largest loss | test accuracy | diverged |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {row['lr']:g} | {row['role']} | {row['first_loss']:.2f} | {row['last_epoch_loss_mean']:.3f} "
              f"± {row['last_epoch_loss_std']:.3f} | {row['max_loss']:.1f} | {row['test_acc_mean']:.3f} "
              f"| {'yes' if row['diverged'] else 'no'} |" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the three shown learning rates, 2 seeds, 2 epochs")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = parser.parse_args(argv)
    learning_rates, seeds, epochs = (tuple(SHOWN), (0, 1), 2) if args.quick else (SWEEP, (0, 1, 2), 20)
    args.out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: on a shared machine extra threads only wait for each other
    try:
        rows, curves = sweep(learning_rates, seeds, epochs)
    finally:
        torch.set_num_threads(threads)
    print(write_table(rows, args.out))
    print("figure:", plot(rows, curves, epochs, args.out / "learning_rate.png"))


if __name__ == "__main__":
    main()
