"""Exercise 1: the backward of softplus, y = log(1 + e^x).

Write `Softplus.backward` below, then check it:

    python -m handgrad.check experiments/exercises/softplus.py:Softplus

Hint: differentiate log(1 + e^x) and look for a function you already know.
"""
import torch
from torch.autograd import Function


class Softplus(Function):
    r"""Softplus :math:`y = \log(1 + e^x)`, elementwise."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input):
        return torch.nn.functional.softplus(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (input,) = inputs
        ctx.save_for_backward(input)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dy, shaped like y. Return dL/dx, shaped like x."""
        (input,) = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """The checker draws a (4, 3) input from its seed (a tuple of ints is a shape)."""
    return ((4, 3),)


reference = torch.nn.functional.softplus  # the checker compares outputs and gradients with it
