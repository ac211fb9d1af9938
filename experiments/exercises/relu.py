"""Core exercise 3: the rectifier, y = max(0, x), elementwise.

Write `ReLU.backward` below, then check it:

    python -m handgrad.check experiments/exercises/relu.py:ReLU

Hint: the slope is 1 where x > 0 and 0 elsewhere (take 0 at x = 0, as torch does);
the gradient passes through where the unit was on and stops where it was off.
"""
import torch
from torch.autograd import Function


class ReLU(Function):
    r"""ReLU :math:`y = \max(0, x)`, elementwise."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input):
        return input.clamp(min=0)

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
    """A (4, 3) input drawn from the checker's seed (a tuple of ints is a shape)."""
    return ((4, 3),)


reference = torch.relu  # the checker compares outputs and gradients with it
