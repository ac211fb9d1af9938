"""Activations, each with its derivative written by hand next to its forward.

Each backward is written from the saved output where the derivative allows it
(sigmoid, tanh, relu, softmax, log_softmax), so nothing extra is kept alive. A backward
builds the derivative as a new tensor, then multiplies the upstream gradient into it
(``grad_input *= grad_output``): the tensor is the backward's own, so updating it saves an
allocation and leaves every saved tensor as it was.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import check_dim, check_floating, check_number


class SigmoidFunction(Function):
    r"""Logistic sigmoid :math:`y = 1 / (1 + e^{-x})`; derivative :math:`y (1 - y)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = output * (1 - output)  # y (1 - y)
        grad_input *= grad_output
        return grad_input


class TanhFunction(Function):
    r"""Hyperbolic tangent :math:`y = \tanh x`; derivative :math:`1 - y^2`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = 1 - output * output  # 1 - y^2
        grad_input *= grad_output
        return grad_input


class ReLUFunction(Function):
    r"""Rectifier :math:`y = \max(x, 0)`; derivative :math:`1` where :math:`x > 0`, else :math:`0`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.relu(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = torch.sign(output)  # relu'(x): 1 where y > 0, else 0 (y = relu(x) is never negative)
        grad_input *= grad_output
        return grad_input


class LeakyReLUFunction(Function):
    r"""Leaky rectifier :math:`y = x` if :math:`x > 0` else :math:`a x`; derivative :math:`1` or :math:`a`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, negative_slope):
        return torch.nn.functional.leaky_relu(input, negative_slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, negative_slope = inputs
        ctx.save_for_backward(input)
        ctx.negative_slope = negative_slope

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        # leaky_relu'(x): 1 where x > 0 (where sign(x) is above 0), else a
        grad_input = torch.nn.functional.threshold(torch.sign(input), 0, ctx.negative_slope)
        grad_input *= grad_output
        return grad_input, None


class SoftmaxFunction(Function):
    r"""Softmax :math:`y_i = e^{x_i} / \sum_j e^{x_j}` along ``dim``;
    backward :math:`\partial L/\partial x = y \odot (g - \sum_j g_j y_j)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, dim):
        return torch.softmax(input, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = grad_output - (grad_output * output).sum(ctx.dim, keepdim=True)  # g_i - sum_j g_j y_j
        grad_input *= output  # y_i (g_i - sum_j g_j y_j)
        return grad_input, None


class LogSoftmaxFunction(Function):
    r"""Log-softmax :math:`y_i = x_i - \log \sum_j e^{x_j}` along ``dim``;
    backward :math:`\partial L/\partial x = g - e^{y} \sum_j g_j`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, dim):
        return torch.log_softmax(input, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = torch.exp(output) * -grad_output.sum(ctx.dim, keepdim=True)  # -p_i sum_j g_j, p = e^y
        grad_input += grad_output  # g_i - p_i sum_j g_j
        return grad_input, None


def _check_inplace(op, inplace):
    if inplace:
        raise ValueError(
            f"{op}: inplace=True is not supported; handgrad's Functions compute out of place "
            "so that the backward can read the saved tensors"
        )


def sigmoid(input):
    """Applies the logistic sigmoid elementwise, like torch.nn.functional.sigmoid."""
    check_floating("sigmoid", "input", input)
    return SigmoidFunction.apply(input)


def tanh(input):
    """Applies tanh elementwise, like torch.nn.functional.tanh."""
    check_floating("tanh", "input", input)
    return TanhFunction.apply(input)


def relu(input, inplace=False):
    """Applies max(x, 0) elementwise, like torch.nn.functional.relu."""
    check_floating("relu", "input", input)
    _check_inplace("relu", inplace)
    return ReLUFunction.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """Applies x if x > 0 else negative_slope * x, like torch.nn.functional.leaky_relu."""
    check_floating("leaky_relu", "input", input)
    check_number("leaky_relu", "negative_slope", negative_slope)
    _check_inplace("leaky_relu", inplace)
    return LeakyReLUFunction.apply(input, float(negative_slope))


def _softmax_input(op, input, dim, dtype):
    check_floating(op, "input", input)
    if dim is None:
        raise TypeError(f"{op}: dim is required (the dimension to normalise over), got None")
    check_dim(op, dim, input.dim())
    return input if dtype is None else input.to(dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Applies softmax along ``dim``, like torch.nn.functional.softmax."""
    return SoftmaxFunction.apply(_softmax_input("softmax", input, dim, dtype), dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Applies log(softmax(x)) along ``dim``, like torch.nn.functional.log_softmax."""
    return LogSoftmaxFunction.apply(_softmax_input("log_softmax", input, dim, dtype), dim)
