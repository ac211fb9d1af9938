"""Core exercise 9: backpropagation through a stack of dense layers.

The network: a_0 = x, z_l = a_{l-1} W_l^T + b_l, a_l = sigmoid(z_l) for the
hidden layers l = 1 .. L-1, and the last layer's z_L is the output. Given
dL/dz_L and the saved activations a_0 .. a_{L-1}, write `backprop` to return
every layer's (dL/dW_l, dL/db_l), then check it against handgrad's own:

    python -m handgrad.check experiments/exercises/backprop.py:backprop

Hint: walk the layers from the last to the first with delta = dL/dz_l:
dL/dW_l = delta^T a_{l-1}, dL/db_l = delta summed over the batch, and
one layer down: delta <- (delta W_l) * a_{l-1} (1 - a_{l-1}), the sigmoid's
derivative read from the saved activation.
"""
import torch

check_as = "backprop"  # the checker compares with handgrad.functional.dense.DenseStackFunction


def backprop(grad_output, activations, weights):
    """Every layer's gradients, from the last layer's.

    grad_output: dL/dz_L (N, out_L). activations: [a_0 (N, in_1), a_1, ..., a_{L-1}],
    the input and each hidden layer's sigmoid output. weights: [W_1 (out_1, in_1), ..., W_L].
    Returns [(dL/dW_1, dL/db_1), ..., (dL/dW_L, dL/db_L)], each gradient shaped like its parameter.
    """
    grads = [None] * len(weights)
    delta = grad_output  # dL/dz_L, (N, out_L)
    for layer in reversed(range(len(weights))):
        raise NotImplementedError("write one layer's gradients, then delta for the layer below")
    return grads


def forward(input, weights, biases):
    """The stack's forward: (z_L, [a_0, ..., a_{L-1}]), what backprop receives."""
    activations, hidden = [input], input
    for layer, (weight, bias) in enumerate(zip(weights, biases)):
        pre_activation = hidden @ weight.T + bias
        if layer == len(weights) - 1:
            return pre_activation, activations
        hidden = torch.sigmoid(pre_activation)
        activations.append(hidden)
