"""The four-digit network of the textbook figure: what its four output units say about test images.

Trains the network of ``experiments/configs/digits_0to3_mse.yaml`` (digits 0-3 of the 8x8
set, 64-30-4, sigmoid hidden and output units, mean squared error against one-hot targets,
stochastic gradient descent, lr 0.5, 30 epochs) through the CLI's training path, then
draws the first three test images of each digit (not picked: the first three in the
test split) next to the activations of the four output units. A trained unit k
should be near 1 for digit k and near 0 otherwise. The table lists every drawn image's
activations; the script also prints the test accuracy and the mean activations per digit.

To run:  python -m experiments.four_digits [--quick] [--out experiments/results]
(the same training from the shell:  handgrad fit --config experiments/configs/digits_0to3_mse.yaml)
"""
import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from experiments.cli_runs import build
from experiments.plotting import OKABE_ITO, plt, save, style

CONFIG = "experiments/configs/digits_0to3_mse.yaml"
PER_DIGIT = 3
COLUMNS = ["digit", "example", "test_index", "activation_0", "activation_1", "activation_2", "activation_3",
           "predicted", "correct"]


def train(epochs):
    args = ["--config", CONFIG]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    trainer, model, data = build(args)
    trainer.fit(model, data)
    return trainer, model, data


def output_activations(model, inputs):
    """The four sigmoid output units: the config's 'mse' cost puts a sigmoid on the logits."""
    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model(inputs))


def plot(images, targets, activations, accuracy, path):
    style()
    digits = sorted(set(targets.tolist()))
    fig, axes = plt.subplots(len(digits), 2 * PER_DIGIT, figsize=(13, 2.3 * len(digits)),
                             gridspec_kw=dict(width_ratios=[1, 1.6] * PER_DIGIT))
    for row, digit in enumerate(digits):
        for example, index in enumerate(torch.nonzero(targets == digit).flatten()[:PER_DIGIT].tolist()):
            picture, bars = axes[row, 2 * example], axes[row, 2 * example + 1]
            picture.imshow(images[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            picture.set(xticks=[], yticks=[], title=f"test image: a {digit}")
            values = activations[index].numpy()
            colours = [OKABE_ITO["blue"] if unit == digit else "#999999" for unit in range(len(values))]
            bars.bar(range(len(values)), values, color=colours, edgecolor="black")
            for unit, value in enumerate(values):
                bars.text(unit, value + 0.03, f"{value:.2f}", ha="center", fontsize=7)
            bars.set(ylim=(0, 1.2), xticks=range(len(values)), yticks=[0, 0.5, 1])
            bars.set_title("its 4 output activations", fontsize=9)
            if row == len(digits) - 1:
                bars.set_xlabel("unit (digit it stands for)")
            if example == 0:
                bars.set_ylabel("activation")
    fig.suptitle(f"The four-digit network (64-30-4, sigmoid units, mean squared error): output activations for the "
                 f"first {PER_DIGIT} test images of each digit\nblue: the unit of the true digit; "
                 f"test accuracy {accuracy:.3f}", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def write_table(images_shown, targets, activations, out):
    rows = []
    for digit in sorted(set(targets.tolist())):
        for example, index in enumerate(torch.nonzero(targets == digit).flatten()[:PER_DIGIT].tolist()):
            values = activations[index].tolist()
            predicted = int(np.argmax(values))
            rows.append(dict(digit=digit, example=example, test_index=index,
                             **{f"activation_{unit}": f"{value:.4f}" for unit, value in enumerate(values)},
                             predicted=predicted, correct=predicted == digit))
    with open(out / "four_digits.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def mean_activation_table(targets, activations):
    lines = ["| true digit | unit 0 | unit 1 | unit 2 | unit 3 | test images |", "|---|---|---|---|---|---|"]
    for digit in sorted(set(targets.tolist())):
        mean = activations[targets == digit].mean(0)
        lines.append(f"| {digit} | " + " | ".join(f"{value:.2f}" for value in mean) +
                     f" | {int((targets == digit).sum())} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of the config's 30")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: on a shared machine extra threads only wait for each other
    try:
        trainer, model, data = train(3 if args.quick else None)
        accuracy = trainer.test(model, data, verbose=False)[0]["test_acc"]
    finally:
        torch.set_num_threads(threads)
    images, targets = data.test_inputs, data.test_targets
    activations = output_activations(model, images)
    write_table(images, targets, activations, args.out)
    print(f"test accuracy {accuracy:.3f} on {len(targets)} test images; mean output activations per digit:")
    print(mean_activation_table(targets, activations))
    print("figure:", plot(images, targets, activations, accuracy, args.out / "four_digits.png"))


if __name__ == "__main__":
    main()
