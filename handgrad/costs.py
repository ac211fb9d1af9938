"""The classifier's costs, defined once: the table behind ``--model.loss``, ``cost()`` and the class prediction.

Every cost takes the network's logits z (N, C) and the class indices y (N,). The table gives, for
each name, the formula as the code computes it and the torch expression it equals; docs/costs.md
and the Classifier's ``--help`` print the same table (``cost_table()``), and tests/test_costs.py
checks each value and gradient against that torch expression.

With ``bce`` on a two-class task the network has one output unit (``output_units``): sigmoid(z)
is the probability of class 1, and a sample is predicted as class 1 when z > 0 (probability 0.5).
"""
from collections import namedtuple

import torch
import torch.nn.functional as TF

import handgrad.functional as HF

Cost = namedtuple("Cost", "formula torch_expression output")

# a = sigmoid(z) and t = one_hot(y, C); p = softmax(z)
COSTS = {
    "mse": Cost("1/(N C) sum_n sum_c (a_nc - t_nc)^2", "F.mse_loss(torch.sigmoid(z), t)", "sigmoid"),
    "quadratic": Cost("1/(2N) sum_n sum_c (a_nc - t_nc)^2",
                      "0.5 * F.mse_loss(torch.sigmoid(z), t, reduction='sum') / N", "sigmoid"),
    "cross_entropy": Cost("-1/N sum_n log p_n,y_n", "F.cross_entropy(z, y)", "softmax"),
    "nll": Cost("-1/N sum_n log_softmax(z)_n,y_n", "F.nll_loss(F.log_softmax(z, 1), y)", "softmax"),
    "bce": Cost("-1/(N C) sum_n sum_c [t_nc log a_nc + (1 - t_nc) log(1 - a_nc)]",
                "F.binary_cross_entropy_with_logits(z, t)", "sigmoid"),
}


def cost_table():
    """The table of costs as Markdown rows: name, formula, torch expression, output units."""
    lines = ["| `--model.loss` | formula (z: logits, a = sigmoid(z), p = softmax(z), t = one-hot of y) | equals in torch | output |",
             "|---|---|---|---|"]
    for name, entry in COSTS.items():
        lines.append(f"| `{name}` | {entry.formula} | `{entry.torch_expression}` | {entry.output} |")
    return "\n".join(lines)


def cost_help(separator):
    """The table as lines of text, for ``--help``: one line per cost, joined by ``separator``."""
    return separator.join(f"{name}: {entry.formula} = {entry.torch_expression} ({entry.output} outputs);"
                          for name, entry in COSTS.items()) + (
        separator + "bce on two classes: one output unit, class 1 where z > 0.")


def check_cost(owner, name):
    if name not in COSTS:
        raise ValueError(f"{owner}: loss must be one of {', '.join(COSTS)}; got {name!r}")


def output_units(name, num_classes):
    """Units of the network's last layer: one for ``bce`` on two classes, else one per class."""
    return 1 if name == "bce" and num_classes == 2 else num_classes


def targets_matrix(logits, targets):
    """t: the one-hot targets (N, C), or the class as a column (N, 1) when the network has one output unit."""
    if logits.shape[1] == 1:
        return targets.to(logits.dtype)[:, None]
    return TF.one_hot(targets, logits.shape[1]).to(logits.dtype)


def cost(logits, targets, name, backend="handgrad"):
    """The classifier's cost on its logits, through handgrad's Functions or torch's (the table above)."""
    F = HF if backend == "handgrad" else TF
    if name == "cross_entropy":
        return F.cross_entropy(logits, targets)
    if name == "nll":
        return F.nll_loss(F.log_softmax(logits, 1), targets)
    target = targets_matrix(logits, targets)
    if name == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    if name == "quadratic":
        return F.mse_loss(F.sigmoid(logits), target, reduction="sum") * (0.5 / len(logits))
    return F.mse_loss(F.sigmoid(logits), target)


def predict(logits):
    """Class indices: the largest logit, or z > 0 (probability above 0.5) for a single output unit."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def last_module(network):
    """The module that computes the network's output, when the network is a chain of modules
    (``nn.Sequential`` and the like, nested); None when that cannot be told."""
    while isinstance(network, torch.nn.Sequential) and len(network):
        network = network[-1]
    return network


def check_network_ending(name, network):
    """Refuse a network that already ends in the squashing function the cost applies itself."""
    adds = COSTS[name].output
    last = type(last_module(network)).__name__
    ends_with = {"Sigmoid": "sigmoid", "Softmax": "softmax", "LogSoftmax": "softmax"}.get(last)
    if ends_with == adds:
        raise ValueError(
            f"Classifier: loss {name!r} applies {adds} to the network's output itself, and the network already "
            f"ends in {last}; remove that last {last} (the network must output logits)"
        )
