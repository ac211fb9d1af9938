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


# --- the core exercises: the dense layer, two activations, softmax, the four costs -------------

class LinearFunction(Function):
    r"""Dense layer :math:`y = x W^\top + b`. With :math:`g = \partial L/\partial y`:
    :math:`\partial L/\partial x = g W`, :math:`\partial L/\partial W = g^\top x`,
    :math:`\partial L/\partial b = \sum_n g_n`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias):
        return input @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output @ weight  # (N, out) @ (out, in) -> (N, in)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.T @ input  # (out, N) @ (N, in) -> (out, in)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)  # (N, out) -> (out,)
        return grad_input, grad_weight, grad_bias


class SigmoidFunction(Function):
    r"""Sigmoid :math:`y = 1 / (1 + e^{-x})`; derivative :math:`y (1 - y)`."""

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
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output * output * (1 - output)  # (*) -> (*)
        return grad_input


class ReLUFunction(Function):
    r"""ReLU :math:`y = \max(0, x)`; derivative :math:`1` where :math:`x > 0`, else :math:`0`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return input.clamp(min=0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (input,) = inputs
        ctx.save_for_backward(input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output * (input > 0).to(grad_output.dtype)  # (*) -> (*)
        return grad_input


class SoftmaxFunction(Function):
    r"""Softmax along dim 1, :math:`s = e^{x} / \sum_k e^{x_k}`; with :math:`g = \partial L/\partial s`:
    :math:`\partial L/\partial x_i = s_i (g_i - \sum_j g_j s_j)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.softmax(input, 1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            cross = (grad_output * output).sum(1, keepdim=True)  # (N, C) -> (N, 1): sum_j g_j s_j
            grad_input = output * (grad_output - cross)  # (N, C)
        return grad_input


class QuadraticCostFunction(Function):
    r"""Quadratic cost :math:`C = \frac{1}{2N} \sum_n \lVert a_n - y_n \rVert^2`;
    :math:`\partial C/\partial a = (a - y) / N`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target):
        return 0.5 * (input - target).square().sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = grad_target = None
        slope = (input - target) * (grad_output / input.shape[0])  # (N, C)
        if ctx.needs_input_grad[0]:
            grad_input = slope
        if ctx.needs_input_grad[1]:
            grad_target = -slope
        return grad_input, grad_target


class CrossEntropyFunction(Function):
    r"""Cross-entropy on logits :math:`C = -\frac{1}{N} \sum_n \log \mathrm{softmax}(z_n)_{y_n}`;
    :math:`\partial C/\partial z = (\mathrm{softmax}(z) - q) / N`, q the one-hot rows of y."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target):
        log_prob = torch.log_softmax(input, 1)
        return -log_prob.gather(1, target[:, None]).sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            q = torch.nn.functional.one_hot(target, input.shape[1]).to(input.dtype)  # (N, classes)
            grad_input = (torch.softmax(input, 1) - q) * (grad_output / input.shape[0])
        return grad_input, None


class BinaryCrossEntropyFunction(Function):
    r"""Binary cross-entropy :math:`C = -\frac{1}{N} \sum_{n,j} [y \log a + (1 - y) \log(1 - a)]`;
    :math:`\partial C/\partial a = (a - y) / (a (1 - a) N)`,
    :math:`\partial C/\partial y = (\log(1 - a) - \log a) / N`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target):
        per_unit = target * torch.log(input) + (1 - target) * torch.log1p(-input)
        return -per_unit.sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = grad_target = None
        scale = grad_output / input.shape[0]
        if ctx.needs_input_grad[0]:
            grad_input = (input - target) / (input * (1 - input)) * scale  # (N, C)
        if ctx.needs_input_grad[1]:
            grad_target = (torch.log1p(-input) - torch.log(input)) * scale  # (N, C)
        return grad_input, grad_target


class NLLLossFunction(Function):
    r"""Log loss :math:`C = -\frac{1}{N} \sum_n p_{n, y_n}`; :math:`\partial C/\partial p = -q / N`,
    q the one-hot rows of y."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target):
        return -input.gather(1, target[:, None]).sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            q = torch.nn.functional.one_hot(target, input.shape[1]).to(input.dtype)  # (N, classes)
            grad_input = -q * (grad_output / input.shape[0])
        return grad_input, None


# --- backpropagation through the stack, and the update rule --------------------------------

def backprop(grad_output, activations, weights):
    """Every layer's (dL/dW, dL/db) of a sigmoid dense stack, from dL/dz_L and a_0 .. a_{L-1}."""
    grads = [None] * len(weights)
    delta = grad_output  # dL/dz_l, (N, out_l)
    for layer in reversed(range(len(weights))):
        below = activations[layer]  # a_{l-1}, (N, in_l)
        grads[layer] = (delta.T @ below, delta.sum(0))  # (out, N) @ (N, in) -> (out, in); (out,)
        if layer > 0:
            delta = (delta @ weights[layer]) * below * (1 - below)  # (N, in_l): back through the sigmoid
    return grads


class GradientDescent(torch.optim.Optimizer):
    """Plain gradient descent: theta <- theta - lr * grad, for every parameter."""

    def __init__(self, params, lr=0.1):
        if not lr >= 0:
            raise ValueError(f"GradientDescent: lr must be >= 0, got {lr!r}")
        super().__init__(params, dict(lr=lr))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.sub_(group["lr"] * param.grad)
        return loss
