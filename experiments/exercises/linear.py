"""Core exercise 1: the dense layer, y = x W^T + b.

Write `Linear.backward` below, then check it:

    python -m handgrad.check experiments/exercises/linear.py:Linear

Hint: one sample's output is y_o = sum_i x_i W_oi + b_o. With g = dL/dy (N, out):
dL/dx = g W, dL/dW = g^T x (a gradient has its input's shape: (out, in)), and
dL/db sums g over the batch, since every sample adds the same b.
"""
import torch
from torch.autograd import Function


class Linear(Function):
    r"""Dense layer :math:`y = x W^\top + b`, x (N, in), W (out, in), b (out,)."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, weight, bias):
        return input @ weight.T + bias  # (N, in) @ (in, out) + (out,) -> (N, out)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dy (N, out). Return (dL/dinput (N, in), dL/dweight (out, in), dL/dbias (out,))."""
        input, weight = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """x (6, 5), W (3, 5) and b (3,), drawn from the checker's seed."""
    return ((6, 5), (3, 5), (3,))


reference = torch.nn.functional.linear  # the checker compares outputs and gradients with it
