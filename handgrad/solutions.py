"""Reference solutions to the exercises in experiments/exercises/: the same forward
and setup_context as each exercise, with the backward written in.

Try the exercise before reading on. tests/test_exercises.py plugs each backward into
its exercise to prove the checker accepts it.
"""
import torch
from torch.autograd import Function


class SoftplusFunction(Function):
    r"""Softplus :math:`y = \log(1 + e^x)`; derivative :math:`e^x / (1 + e^x) = \sigma(x)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.nn.functional.softplus(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (input,) = inputs
        ctx.save_for_backward(input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output * torch.sigmoid(input)  # (*) * (*) -> (*)
        return grad_input


class ELUFunction(Function):
    r"""ELU :math:`y = x` if :math:`x > 0` else :math:`\alpha (e^x - 1)`;
    derivative :math:`1` if :math:`x > 0` else :math:`\alpha e^x = y + \alpha`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, alpha):
        return torch.where(input > 0, input, alpha * torch.expm1(input))

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, alpha = inputs
        ctx.save_for_backward(input, output)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output):
        input, output = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            # alpha e^x written as y + alpha reuses the saved output instead of a second exp
            derivative = torch.where(input > 0, torch.ones_like(output), output + ctx.alpha)
            grad_input = grad_output * derivative  # (*) * (*) -> (*)
        return grad_input, None


class HuberLossFunction(Function):
    r"""Mean Huber loss on :math:`d = x - t`: :math:`d^2 / 2` if :math:`|d| < \delta`, else
    :math:`\delta (|d| - \delta / 2)`; derivative :math:`\partial \ell / \partial x =
    \mathrm{clamp}(d, -\delta, \delta) / N = -\partial \ell / \partial t`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, delta):
        diff = input - target
        small = diff.abs() < delta
        loss = torch.where(small, 0.5 * diff * diff, delta * (diff.abs() - 0.5 * delta))
        return loss.mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, delta = inputs
        ctx.save_for_backward(input, target)
        ctx.delta = delta

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = grad_target = None
        # d/dd of each element is clamp(d, -delta, delta); the mean divides every one by N
        slope = (input - target).clamp(-ctx.delta, ctx.delta) * (grad_output / input.numel())  # (*)
        if ctx.needs_input_grad[0]:
            grad_input = slope
        if ctx.needs_input_grad[1]:
            grad_target = -slope
        return grad_input, grad_target, None


class LinearSigmoidFunction(Function):
    r"""Fused dense layer and sigmoid :math:`y = \sigma(x W^\top + b)`. With
    :math:`s = g \odot y (1 - y)`: :math:`\partial L/\partial x = s W`,
    :math:`\partial L/\partial W = s^\top x`, :math:`\partial L/\partial b = \sum_n s_n`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias):
        return torch.sigmoid(input @ weight.T + bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, output)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, output = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        grad_pre = grad_output * output * (1 - output)  # (N, out): back through the sigmoid
        if ctx.needs_input_grad[0]:
            grad_input = grad_pre @ weight  # (N, out) @ (out, in) -> (N, in)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_pre.T @ input  # (out, N) @ (N, in) -> (out, in)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_pre.sum(0)  # (N, out) -> (out,)
        return grad_input, grad_weight, grad_bias
