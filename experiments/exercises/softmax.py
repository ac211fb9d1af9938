"""Core exercise 4: the softmax of each row, s_j = e^{x_j} / sum_k e^{x_k}.

Write `Softmax.backward` below, then check it:

    python -m handgrad.check experiments/exercises/softmax.py:Softmax

Hint: every output of a row depends on every input of that row:
ds_j/dx_i = s_j (1[i = j] - s_i). Contracted with g = dL/ds this gives
dL/dx_i = s_i (g_i - sum_j g_j s_j). The sum is the cross term: without it
you have the derivative of an elementwise function, which softmax is not.
"""
import torch
from torch.autograd import Function


class Softmax(Function):
    r"""Softmax along dim 1: :math:`s_{nj} = e^{x_{nj}} / \sum_k e^{x_{nk}}`, x (N, C)."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input):
        return torch.softmax(input, 1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/ds (N, C). Return dL/dx (N, C)."""
        (output,) = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """x (5, 4), drawn from the checker's seed."""
    return ((5, 4),)


def reference(input):
    return torch.softmax(input, 1)
