"""Dense layer: y = x W^T + b, with its backward written by hand."""
import math

import torch
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_same_dtype


class LinearFunction(Function):
    r"""Dense layer :math:`y = x W^\top + b`.

    With :math:`g = \partial L / \partial y`: :math:`\partial L/\partial x = g W`,
    :math:`\partial L/\partial W = g^\top x`, :math:`\partial L/\partial b = \sum_n g_n`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias):
        if bias is not None and input.dim() == 2:
            return torch.addmm(bias, input, weight.t())  # one fused kernel for x W^T + b
        output = input.matmul(weight.t())  # (*, in) @ (in, out) -> (*, out)
        if bias is not None:
            output = output + bias
        return output

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        out_features, in_features = weight.shape
        rows = math.prod(input.shape[:-1])  # N: the leading dims together (1 for a 1-d input)
        grad_output_2d = grad_output.reshape(rows, out_features)  # (N, out)
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.matmul(weight)  # (*, out) @ (out, in) -> (*, in)
        if ctx.needs_input_grad[1]:
            input_2d = input.reshape(rows, in_features)  # (N, in)
            grad_weight = grad_output_2d.t().matmul(input_2d)  # (out, N) @ (N, in) -> (out, in)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output_2d.sum(0)  # (N, out) -> (out,)
        return grad_input, grad_weight, grad_bias


def linear(input, weight, bias=None):
    """Applies y = x W^T + b, like torch.nn.functional.linear."""
    check_floating("linear", "input", input)
    check_floating("linear", "weight", weight)
    if weight.dim() != 2:
        raise ValueError(f"linear: weight must be 2-d (out_features, in_features), got shape {tuple(weight.shape)}")
    if input.dim() == 0:
        raise ValueError("linear: input must have at least 1 dimension (*, in_features), got a 0-d tensor")
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {input.shape[-1]} features, weight expects {weight.shape[1]}"
        )
    check_same_dtype("linear", "weight", weight, "input", input)
    if bias is not None:
        check_floating("linear", "bias", bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[0]},) to match weight, got {tuple(bias.shape)}"
            )
        check_same_dtype("linear", "bias", bias, "input", input)
    return LinearFunction.apply(input, weight, bias)
