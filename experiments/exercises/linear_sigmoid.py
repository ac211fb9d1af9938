"""Exercise 4: the backward of a fused layer, y = sigmoid(x W^T + b).

Write `LinearSigmoid.backward` below, then check it:

    python -m handgrad.check experiments/exercises/linear_sigmoid.py:LinearSigmoid

Hint: go back through the sigmoid first (its derivative is y (1 - y), and y is
saved), then through the dense layer. Every gradient has its input's shape:
the bias gradient must be summed over the batch.
"""
import torch
from torch.autograd import Function


class LinearSigmoid(Function):
    r"""Dense layer then sigmoid: :math:`y = \sigma(x W^\top + b)`, x (N, in), W (out, in), b (out,)."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, weight, bias):
        return torch.sigmoid(input @ weight.T + bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, output)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: (N, out). Return (dL/dinput (N, in), dL/dweight (out, in), dL/dbias (out,))."""
        input, weight, output = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """x (6, 5), W (3, 5) and b (3,), drawn from the checker's seed."""
    return ((6, 5), (3, 5), (3,))


def reference(input, weight, bias):
    return torch.sigmoid(torch.nn.functional.linear(input, weight, bias))
