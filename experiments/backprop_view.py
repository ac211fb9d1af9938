"""Watching backpropagation: the error travelling back, layer by layer, and vanishing gradients.

Two views of the same hand-written backward passes:

1. ``handgrad.trace()`` on a 3-layer network of per-layer Functions (Linear-Sigmoid-Linear-
   Sigmoid-Linear, then cross-entropy): every backward call in the order autograd runs
   them, the cost first and the first layer last, with the shape and norm of each gradient.
   The printout goes to ``backprop_view.md``.
2. ``handgrad.callbacks.GradientNorms`` while a deeper MLP (64-30-30-30-30-10) trains
   through the CLI's training path (mini-batch descent, lr 0.3, the fused fast path):
   each layer's gradient norm, averaged over each epoch, for sigmoid and for relu units.
   With sigmoid units the gradient shrinks by a factor of about 5-8 per layer on its way
   back (sigmoid' <= 1/4) and stays so: the first layers barely learn, and in 30 epochs
   this network learns nothing (vanishing gradients). With relu units it also shrinks at
   first (by about 2-3 per layer: torch's default initialisation, which handgrad's Linear
   copies, is smaller than He's), but training grows it back to about the same size in
   every layer. A third panel traces the same two networks (as per-layer Functions) before
   and after training: the norm of the error dL/dz arriving at each dense layer's output.

To run:  python -m experiments.backprop_view [--quick] [--out experiments/results]
"""
import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import handgrad
import handgrad.functional as F
from datamodules import DigitsDataModule
from experiments.cli_runs import build, digits_args
from experiments.plotting import OKABE_ITO, plt, save, style
from handgrad.callbacks import GradientNorms
from handgrad.models import MLP

HIDDEN = [30, 30, 30, 30]
LR = 0.3
ACTIVATIONS = {"sigmoid": OKABE_ITO["vermillion"], "relu": OKABE_ITO["blue"]}
COLUMNS = ["activation", "epoch", "layer", "name", "grad_norm", "test_acc"]


def trace_three_layers(inputs, targets):
    """The trace of one backward pass through Linear-Sigmoid-Linear-Sigmoid-Linear + cross-entropy."""
    torch.manual_seed(0)
    network = MLP(inputs.shape[1], [30, 20], 10, "sigmoid", fused=False)  # one handgrad Function per op
    with handgrad.trace() as calls:
        F.cross_entropy(network(inputs), targets).backward()
    return calls


def error_norms(network, inputs, targets):
    """|dL/dz_l| for each dense layer l (first to last), read from a trace of the per-layer network."""
    twin = MLP(network.layers[0].in_features, [layer.out_features for layer in network.layers[:-1]],
               network.layers[-1].out_features, network.activation, fused=False)
    twin.load_state_dict(network.state_dict())
    with handgrad.trace() as calls:
        F.cross_entropy(twin(inputs), targets).backward()
    arriving = [call.grad_outputs[0].norm for call in calls if call.op == "LinearFunction"]
    return arriving[::-1]  # the trace runs from the last layer to the first


def train(activation, epochs):
    norms = GradientNorms()
    trainer, model, data = build(digits_args(0, epochs, HIDDEN, activation, "cross_entropy", "minibatch", LR),
                                 callbacks=[norms])
    inputs, targets = data.train_inputs[:256], data.train_targets[:256]
    before = error_norms(model.network, inputs, targets)
    trainer.fit(model, data)
    after = error_norms(model.network, inputs, targets)
    test_acc = trainer.test(model, data, verbose=False)[0]["test_acc"]
    per_epoch = defaultdict(list)
    for record in norms.history:
        per_epoch[(record["epoch"], record["layer"], record["name"])].append(record["norm"])
    rows = [dict(activation=activation, epoch=epoch + 1, layer=layer + 1, name=name, grad_norm=float(np.mean(values)),
                 test_acc=test_acc) for (epoch, layer, name), values in sorted(per_epoch.items())]
    return rows, before, after


def plot(rows, errors, epochs, path):
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharey=False)
    shown_epochs = sorted({1, 2, 5, 10, 20, epochs} & set(range(1, epochs + 1)))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(shown_epochs)))
    low = min(row["grad_norm"] for row in rows) / 2
    high = max(row["grad_norm"] for row in rows) * 2
    for ax, activation in zip(axes[:2], ACTIVATIONS):
        mine = [row for row in rows if row["activation"] == activation]
        for colour, epoch in zip(colours, shown_epochs):
            layer_rows = sorted((row for row in mine if row["epoch"] == epoch), key=lambda row: row["layer"])
            ax.plot([row["layer"] for row in layer_rows], [row["grad_norm"] for row in layer_rows], marker="o",
                    color=colour, label=f"epoch {epoch}")
        ax.set(yscale="log", ylim=(low, high), xticks=range(1, len(HIDDEN) + 2),
               xlabel="dense layer (1 = next to the input)", ylabel="gradient 2-norm of the layer (weight and bias)",
               title=f"{activation} units: epoch mean of each layer's gradient\n"
                     f"(test accuracy after {epochs} epochs: {mine[0]['test_acc']:.2f})")
        ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    layers = np.arange(1, len(HIDDEN) + 2)
    for activation, colour in ACTIVATIONS.items():
        before, after = errors[activation]
        ax.plot(layers, before, marker="o", color=colour, label=f"{activation}, before training")
        ax.plot(layers, after, marker="s", ls="--", color=colour, label=f"{activation}, after {epochs} epochs")
    ax.set(yscale="log", xticks=layers, xlabel="dense layer (1 = next to the input)",
           ylabel="|dL/dz| arriving at the layer's output (2-norm)",
           title="From handgrad.trace(): the error on its way back\n(layer 5 to layer 1; 256 training images)")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Backpropagation watched: MLP 64-30-30-30-30-10 on the 8x8 digits, mini-batch descent lr {LR}",
                 fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def write_outputs(rows, calls, errors, epochs, out):
    with open(out / "backprop_view.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows({key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
                         for row in rows)
    lines = ["# Backpropagation watched", "",
             "`handgrad.trace()` on Linear-Sigmoid-Linear-Sigmoid-Linear + cross-entropy "
             "(64-30-20-10, 32 training digits, per-layer Functions): the backward calls in the order they ran.", "",
             "```", str(calls), "```", "",
             f"Gradient 2-norm of each dense layer, mean over the updates of epoch 1 and epoch {epochs}:", "",
             "| activation | epoch | " + " | ".join(f"layer {i}" for i in range(1, len(HIDDEN) + 2)) + " |",
             "|---|---|" + "---|" * (len(HIDDEN) + 1)]
    for activation in ACTIVATIONS:
        for epoch in sorted({1, epochs}):
            norms = [row["grad_norm"] for row in rows if row["activation"] == activation and row["epoch"] == epoch]
            lines.append(f"| {activation} | {epoch} | " + " | ".join(f"{norm:.2g}" for norm in norms) + " |")
    lines += ["", "Norm of dL/dz arriving at each dense layer's output (trace of 256 training images):", "",
              "| activation | when | " + " | ".join(f"layer {i}" for i in range(1, len(HIDDEN) + 2)) + " |",
              "|---|---|" + "---|" * (len(HIDDEN) + 1)]
    for activation, (before, after) in errors.items():
        for when, values in (("before training", before), (f"after {epochs} epochs", after)):
            lines.append(f"| {activation} | {when} | " + " | ".join(f"{value:.2g}" for value in values) + " |")
    text = "\n".join(lines) + "\n"
    (out / "backprop_view.md").write_text(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of 30")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else 30
    args.out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: on a shared machine extra threads only wait for each other
    try:
        data = DigitsDataModule(seed=0)
        calls = trace_three_layers(data.train_inputs[:32], data.train_targets[:32])
        rows, errors = [], {}
        for activation in ACTIVATIONS:
            activation_rows, before, after = train(activation, epochs)
            rows += activation_rows
            errors[activation] = (before, after)
    finally:
        torch.set_num_threads(threads)
    print(write_outputs(rows, calls, errors, epochs, args.out))
    print("figure:", plot(rows, errors, epochs, args.out / "backprop_view.png"))


if __name__ == "__main__":
    main()
