"""Core exercise 5: the quadratic cost (mean squared error), as the textbook writes it.

    C = 1/(2N) sum_n ||a_n - y_n||^2

a (N, C) are the network's outputs, y (N, C) the wanted outputs (one-hot rows for
a classifier). The scaling: summed over the C output units, averaged over the N
samples, halved. torch.nn.functional.mse_loss averages over the units too and does
not halve, so C = (C_units / 2) * mse_loss(a, y): the same minimum, and gradients
that differ by that factor, which is why a learning rate does not carry over
between the two. Write `QuadraticCost.backward` below, then check it:

    python -m handgrad.check experiments/exercises/quadratic_cost.py:QuadraticCost

Hint: dC/da = (a - y) / N. grad_output is dL/dC, a 0-d tensor (1 when C is the
loss itself). The target y is data: the checker does not differentiate it, so
return None in its place.
"""
import torch
from torch.autograd import Function


class QuadraticCost(Function):
    r"""Quadratic cost :math:`C = \frac{1}{2N} \sum_n \lVert a_n - y_n \rVert^2`, a and y (N, C)."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, target):
        return 0.5 * (input - target).square().sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dC, a 0-d tensor. Return (dL/dinput (N, C), None for the target)."""
        input, target = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """Outputs a (5, 4) drawn from the checker's seed and one-hot targets y (5, 4)."""
    target = torch.nn.functional.one_hot(torch.tensor([0, 3, 1, 1, 2]), 4).double()
    return ((5, 4), target)


def reference(input, target):
    return torch.nn.functional.mse_loss(input, target, reduction="sum") / (2 * input.shape[0])
