"""Benchmark: time per epoch of batch, stochastic and mini-batch descent, handgrad vs its peers.

The [64, 30, 10] sigmoid network on the 1,437 (80%) training digits, learning rate 0.1:
- handgrad: the CLI's own training path (Classifier + DigitsDataModule under a Lightning
  Trainer, backend 'handgrad', the hand-written backward of the dense stack);
- torch: the same path with backend 'torch' (torch.nn layers, autograd);
- scikit-learn: MLPClassifier(solver='sgd') with the same sizes and batch sizes, its BLAS
  held to the same number of threads as torch (threadpoolctl, which scikit-learn ships with).
Each epoch is timed on its own. The three runners take turns, in alternating order, for
several rounds (this machine's speed drifts between runs); the table gives the median
epoch time over all rounds and the median of each round's ratio handgrad / peer (below 1
means handgrad is faster). Validation is off for every runner. A second table
splits handgrad's batch epoch (one update per epoch): Lightning's loop alone, the loop with
one self.log per training step (which Classifier does not do: it hands train_loss to the
trainer's metric dicts instead), and Classifier's whole training step.

To run:  python experiments/bench_descent.py [--threads 1] [--rounds 3] [--out experiments/results/bench_descent.md]
"""
import argparse
import statistics
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from threadpoolctl import threadpool_limits

from datamodules import DigitsDataModule
from handgrad.lightning import Classifier
from handgrad.optim import GradientDescent

VARIANTS = [("stochastic", 1, 8), ("minibatch", 10, 30), ("batch", None, 300)]  # descent, batch size, epochs
LEARNING_RATE = 0.1


class EpochTimer(L.Callback):
    def __init__(self):
        self.times = []

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        self.times.append(time.perf_counter() - self.start)


class SGDClassifier(Classifier):
    def configure_optimizers(self):
        return GradientDescent(self.parameters(), lr=LEARNING_RATE)


class LoopOnly(SGDClassifier):
    """Lightning's epoch around a training step that does nothing."""

    def training_step(self, block, batch_idx):
        return None


class LogOnly(SGDClassifier):
    """A training step that only logs a training loss through self.log, once per block."""

    def training_step(self, block, batch_idx):
        self.log("train_loss", torch.tensor(0.0), prog_bar=True)


BREAKDOWN = [
    ("Lightning's loop, empty training step", LoopOnly),
    ("Lightning's loop + one self.log('train_loss') per step (for comparison)", LogOnly),
    ("handgrad's training step (as in the table above)", SGDClassifier),
]


def lightning_epochs(descent, batch_size, epochs, backend, model_class=SGDClassifier):
    L.seed_everything(0, verbose=False)
    data = DigitsDataModule(descent=descent, batch_size=batch_size or 32, val_fraction=0.0, test_fraction=0.2)
    model = model_class(hidden_sizes=[30], activation="sigmoid", loss="cross_entropy", backend=backend)
    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    trainer.fit(model, data)
    return timer.times[1:]  # the first epoch pays for warm-up


def sklearn_epochs(descent, batch_size, epochs, threads):
    """Per-epoch times of MLPClassifier: (fit of k+1 epochs - fit of 1 epoch) / k, so that
    fit's one-off set-up (input checks, label encoding) is not counted as epoch time."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = DigitsDataModule(val_fraction=0.0, test_fraction=0.2)
    inputs, targets = data.train_inputs.numpy(), data.train_targets.numpy()
    size = {"stochastic": 1, "minibatch": batch_size, "batch": len(inputs)}[descent]

    def fit_seconds(max_iter):
        model = MLPClassifier(hidden_layer_sizes=(30,), activation="logistic", solver="sgd", batch_size=size,
                              learning_rate_init=LEARNING_RATE, momentum=0.0, max_iter=max_iter, shuffle=True,
                              random_state=0, tol=0.0, n_iter_no_change=10**9)
        start = time.perf_counter()
        model.fit(inputs, targets)
        return time.perf_counter() - start

    times = []
    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            extra = max(epochs // 3, 1)
            times.append((fit_seconds(extra + 1) - fit_seconds(1)) / extra)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for torch and for scikit-learn's BLAS (1 is fastest this small)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/bench_descent.md"))
    parser.add_argument("--rounds", type=int, default=3, help="turns each runner takes, alternating")
    parser.add_argument("--quick", action="store_true", help="few epochs and one round, for the tests")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 1 if args.quick else args.rounds
    lines = [
        f"torch {torch.__version__}, {args.threads} thread(s); median time per epoch over {rounds} rounds, ms; "
        "ratios are medians of the rounds' ratios",
        "",
        "| descent | samples per update | handgrad (CLI path) | torch backend | scikit-learn | handgrad / sklearn | handgrad / torch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for descent, batch_size, epochs in VARIANTS:
        epochs = 3 if args.quick else epochs
        runners = {
            "handgrad": lambda: lightning_epochs(descent, batch_size, epochs, "handgrad"),
            "torch": lambda: lightning_epochs(descent, batch_size, epochs, "torch"),
            "sklearn": lambda: sklearn_epochs(descent, batch_size, epochs, args.threads),
        }
        per_round = {name: [] for name in runners}  # median epoch time of each round
        for index in range(rounds):
            for name in (list(runners) if index % 2 == 0 else list(reversed(runners))):
                per_round[name].append(statistics.median(runners[name]()))
        ms = {name: statistics.median(times) * 1e3 for name, times in per_round.items()}
        ratio = {peer: statistics.median(h / p for h, p in zip(per_round["handgrad"], per_round[peer]))
                 for peer in ("sklearn", "torch")}
        size = {"stochastic": "1", "minibatch": str(batch_size), "batch": "1,437"}[descent]
        lines.append(f"| {descent} | {size} | {ms['handgrad']:.2f} | {ms['torch']:.2f} | {ms['sklearn']:.2f} | "
                     f"{ratio['sklearn']:.2f} | {ratio['torch']:.2f} |")
        print(lines[-1], flush=True)
    batch_epochs = 3 if args.quick else VARIANTS[-1][2]
    lines += ["", "Where handgrad's batch epoch goes (median ms per epoch, same setup):", "",
              "| what runs | ms per epoch |", "|---|---:|"]
    for label, model_class in BREAKDOWN:
        ms = statistics.median(lightning_epochs("batch", None, batch_epochs, "handgrad", model_class)) * 1e3
        lines.append(f"| {label} | {ms:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
