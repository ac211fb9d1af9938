"""Core exercise 2: the sigmoid, y = 1 / (1 + e^-x), elementwise.

Write `Sigmoid.backward` below, then check it:

    python -m handgrad.check experiments/exercises/sigmoid.py:Sigmoid

Hint: dy/dx = y (1 - y), and y is saved. Multiply by grad_output: the chain rule
takes the derivative of the cost with respect to y and turns it into one w.r.t. x.
"""
import torch
from torch.autograd import Function


class Sigmoid(Function):
    r"""Sigmoid :math:`y = 1 / (1 + e^{-x})`, elementwise."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dy, shaped like y. Return dL/dx, shaped like x."""
        (output,) = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """A (4, 3) input drawn from the checker's seed (a tuple of ints is a shape)."""
    return ((4, 3),)


reference = torch.sigmoid  # the checker compares outputs and gradients with it
