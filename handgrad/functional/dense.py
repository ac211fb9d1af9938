"""A whole stack of dense layers as one Function: backpropagation through the stack, by hand.

The per-layer ops (linear, sigmoid, ...) give the same gradients; here the textbook
recursion over the layers is written out in one backward, so it can be read in one place.
``handgrad.fast`` holds a faster version of the same recursion for the classifier's
training path.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_same_dtype

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default

# name -> activation h = f(z)
ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, LEAKY_SLOPE),
}

# name -> dL/dz = dL/dh * f'(z), with f'(z) written from h = f(z)
CHAIN_RULES = {
    "sigmoid": lambda grad, h: grad * h * (1 - h),
    "tanh": lambda grad, h: grad * (1 - h * h),
    "relu": lambda grad, h: grad * (h > 0),
    "leaky_relu": lambda grad, h: torch.where(h > 0, grad, grad * LEAKY_SLOPE),
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
        hidden, hiddens = input, []
        for layer in range(0, len(params) - 2, 2):
            hidden = ACTIVATIONS[activation](torch.addmm(params[layer + 1], hidden, params[layer].t()))
            hiddens.append(hidden)  # h_l = f(h_{l-1} W_l^T + b_l): (N, in) -> (N, out)
        output = torch.addmm(params[-1], hidden, params[-2].t())  # z_L, no activation
        return (output, *hiddens)

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
        hiddens, weights = [input, *rest[: num_layers - 1]], rest[num_layers - 1:]
        needs = ctx.needs_input_grad[2:]  # W_1, b_1, ..., W_L, b_L
        grad_params = [None] * (2 * num_layers)
        delta = grad_output  # dL/dz_L: (N, out)
        for layer in reversed(range(1, num_layers)):
            grad_params[2 * layer: 2 * layer + 2] = _layer_grads(delta, hiddens[layer], needs[2 * layer:])
            grad_hidden = _add(_times_weight(delta, weights[layer]), grad_hiddens[layer - 1])  # dL/dh_{l-1}
            delta = None if grad_hidden is None else CHAIN_RULES[ctx.activation](grad_hidden, hiddens[layer])
        grad_params[0:2] = _layer_grads(delta, input, needs)
        grad_input = _times_weight(delta, weights[0]) if ctx.needs_input_grad[0] else None  # dL/dx = delta_1 W_1
        return (grad_input, None, *grad_params)


def _layer_grads(delta, hidden, needs):
    """dL/dW_l = delta_l^T h_{l-1}: (out, N) @ (N, in) -> (out, in), and dL/db_l = sum_n delta_l: (out,)."""
    if delta is None:
        return [None, None]
    return [delta.t().matmul(hidden) if needs[0] else None, delta.sum(0) if needs[1] else None]


def _times_weight(delta, weight):
    """dL/dh_{l-1} = delta_l W_l: (N, out) @ (out, in) -> (N, in)."""
    return None if delta is None else delta.matmul(weight)


def _add(grad, extra):
    """Two gradients arriving at the same tensor add up; either may be missing (None)."""
    if grad is None or extra is None:
        return extra if grad is None else grad
    return grad + extra


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
        return DenseStackFunction.apply(input.unsqueeze(0), activation, *params)[0].squeeze(0)
    return DenseStackFunction.apply(input, activation, *params)[0]
