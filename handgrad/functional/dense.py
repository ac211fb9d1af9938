"""A whole stack of dense layers as one Function: backpropagation through the stack, by hand.

This is the textbook algorithm in one place. The per-layer ops (linear, sigmoid, ...)
give the same gradients; fusing the stack saves the per-op Python overhead, which
dominates when a network this small is trained one sample at a time.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_same_dtype
from handgrad.functional.activation import (
    leaky_relu_derivative,
    relu_derivative,
    sigmoid_derivative,
    tanh_derivative,
)

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default

# name -> (activation applied in place to a fresh tensor, its derivative from the activation's output)
ACTIVATIONS = {
    "sigmoid": (torch.sigmoid_, sigmoid_derivative),
    "tanh": (torch.tanh_, tanh_derivative),
    "relu": (torch.relu_, relu_derivative),
    "leaky_relu": (
        lambda z: torch.nn.functional.leaky_relu_(z, LEAKY_SLOPE),
        lambda h: leaky_relu_derivative(h, LEAKY_SLOPE),
    ),
}


class DenseStackFunction(Function):
    r"""Dense layers with activation :math:`f` between them:
    :math:`h_0 = x`, :math:`z_l = h_{l-1} W_l^\top + b_l`, :math:`h_l = f(z_l)` for :math:`l < L`;
    the output is :math:`z_L` (no activation on the last layer), followed by the hidden :math:`h_l`.

    Backward, from :math:`\delta_L = \partial L / \partial z_L` down to layer 1:
    :math:`\partial L/\partial W_l = \delta_l^\top h_{l-1}`, :math:`\partial L/\partial b_l = \sum_n \delta_l`,
    :math:`\delta_{l-1} = (\delta_l W_l) \odot f'(z_{l-1})`, and :math:`\partial L/\partial x = \delta_1 W_1`.

    The hidden :math:`h_l` are outputs (not mere intermediates) so that double backward
    can differentiate through them; a gradient that arrives for one is added to its delta.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, activation, *params):
        output, hiddens = stack_forward(input, activation, params)
        return (output.contiguous(), *hiddens)  # logits laid out as torch's linear gives them

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, activation, *params = inputs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(input, *output[1:], *params[0::2])
        ctx.activation = activation

    @staticmethod
    def backward(ctx, grad_output, *grad_hiddens):
        input, *rest = ctx.saved_tensors
        num_layers = len(rest) // 2 + 1
        hiddens, weights = rest[: num_layers - 1], rest[num_layers - 1:]
        grad_input, grad_params = stack_backprop(
            grad_output, input, hiddens, weights, ctx.activation, grad_hiddens, ctx.needs_input_grad
        )
        return (grad_input, None, *grad_params)


# From this many samples on, MKL multiplies faster with the samples along the long, contiguous
# side: h W^T computed as (W h^T)^T took 114 us instead of 201 us for 1437 x 64 -> 30 here;
# below about 100 samples the plain product is the faster one.
TRANSPOSED_FROM = 128


def _affine(hidden, weight, bias):
    """h W^T + b: (N, in) @ (in, out) + (out,) -> (N, out)."""
    if len(hidden) >= TRANSPOSED_FROM:
        return torch.addmm(bias[:, None], weight, hidden.t()).t()  # (out, in) @ (in, N), viewed as (N, out)
    return torch.addmm(bias, hidden, weight.t())


def _times_weight(delta, weight):
    """delta W: (N, out) @ (out, in) -> (N, in)."""
    if len(delta) >= TRANSPOSED_FROM:
        return weight.t().matmul(delta.t()).t()  # (in, out) @ (out, N), viewed as (N, in)
    return delta.matmul(weight)


def stack_forward(input, activation, params):
    """Logits z_L and the hidden activations h_1 .. h_{L-1}; params = (W_1, b_1, ..., W_L, b_L)."""
    apply_activation = ACTIVATIONS[activation][0]
    hidden, hiddens = input, []
    num_layers = len(params) // 2
    for layer in range(num_layers):
        weight, bias = params[2 * layer], params[2 * layer + 1]
        pre_activation = _affine(hidden, weight, bias)  # (N, in) -> (N, out)
        if layer == num_layers - 1:
            return pre_activation, hiddens
        hidden = apply_activation(pre_activation)  # in place: pre_activation is fresh
        hiddens.append(hidden)


def stack_backprop(grad_output, input, hiddens, weights, activation, grad_hiddens=None, needs_input_grad=None):
    """Backpropagation through the stack: (dL/dx, [dL/dW_1, dL/db_1, ...]) from dL/dz_L.

    ``grad_hiddens`` are gradients arriving directly at h_1 .. h_{L-1} (None when unused);
    ``needs_input_grad`` follows the Function's inputs (input, activation, W_1, b_1, ...).
    """
    num_layers = len(weights)
    hiddens = [input, *hiddens]
    grad_hiddens = grad_hiddens or [None] * (num_layers - 1)
    needs = needs_input_grad or [True] * (2 + 2 * num_layers)
    derivative = ACTIVATIONS[activation][1]
    grad_params = [None] * (2 * num_layers)
    delta = grad_output  # dL/dz_L, (N, out)
    for layer in reversed(range(num_layers)):
        hidden, weight = hiddens[layer], weights[layer]
        if delta is not None:
            if needs[2 + 2 * layer]:
                grad_params[2 * layer] = delta.t().matmul(hidden)  # (out, N) @ (N, in) -> (out, in)
            if needs[3 + 2 * layer]:
                grad_params[2 * layer + 1] = delta.sum(0)  # (N, out) -> (out,)
        if layer == 0:
            break
        grad_hidden = None if delta is None else _times_weight(delta, weight)  # (N, out) -> (N, in)
        extra = grad_hiddens[layer - 1]
        if extra is not None:
            grad_hidden = extra if grad_hidden is None else grad_hidden + extra
        delta = None if grad_hidden is None else derivative(hidden).mul_(grad_hidden)  # dL/dz_{l-1}
    grad_input = None
    if needs[0] and delta is not None:
        grad_input = delta.matmul(weights[0])  # (N, out) @ (out, in) -> (N, in)
    return grad_input, grad_params


def dense_stack(input, weights, biases, activation="relu"):
    """Logits of a stack of dense layers with ``activation`` between them (none after the last).

    Args:
        input: (N, in_features) or (in_features,) tensor.
        weights, biases: sequences of each layer's (out, in) weight and (out,) bias.
        activation: 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' (slope 0.01).
    """
    op = "dense_stack"
    check_floating(op, "input", input)
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if input.dim() not in (1, 2):
        raise ValueError(f"{op}: input must be (N, in_features) or (in_features,), got shape {tuple(input.shape)}")
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(f"{op}: need one bias per weight and at least one layer, got {len(weights)} weights "
                         f"and {len(biases)} biases")
    features = input.shape[-1]
    for layer, (weight, bias) in enumerate(zip(weights, biases)):
        check_same_dtype(op, f"weights[{layer}]", weight, "input", input)
        if weight.dim() != 2 or weight.shape[1] != features or bias.shape != (weight.shape[0],):
            raise ValueError(
                f"{op}: layer {layer} expects {features} input features; got weight {tuple(weight.shape)} "
                f"and bias {tuple(bias.shape)}"
            )
        features = weight.shape[0]
    params = [p for pair in zip(weights, biases) for p in pair]
    if input.dim() == 1:  # one sample: a batch of one
        return DenseStackFunction.apply(input[None], activation, *params)[0][0]
    return DenseStackFunction.apply(input, activation, *params)[0]
