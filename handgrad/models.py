"""Small networks for the classifier: a dense stack (MLP) built from handgrad or torch.nn layers."""
from torch import nn

import handgrad.nn as hnn
from handgrad.functional.dense import ACTIVATIONS, dense_stack

BACKENDS = ("handgrad", "torch")
_TORCH_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
_HANDGRAD_ACTIVATIONS = {"sigmoid": hnn.Sigmoid, "tanh": hnn.Tanh, "relu": hnn.ReLU, "leaky_relu": hnn.LeakyReLU}


class MLP(nn.Module):
    """Dense layers ``in_features -> *hidden_sizes -> out_features`` with one activation between them.

    Args:
        in_features: size of each input sample.
        hidden_sizes: sizes of the hidden layers, e.g. ``[30]``; ``[]`` gives a linear model.
        out_features: size of the output (logits).
        activation: 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu'.
        backend: 'handgrad' (hand-written backward) or 'torch' (torch.nn layers, autograd).
        fused: with the handgrad backend, run the stack as one DenseStackFunction
            (one hand-written backward for the whole stack) instead of one Function per layer.

    Both backends hold the same parameters under the same names (``layers.0.weight`` ...),
    initialised as torch.nn.Linear does, so one seed gives one network either way.
    """

    def __init__(self, in_features, hidden_sizes, out_features, activation="sigmoid", backend="handgrad", fused=True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
        if backend not in BACKENDS:
            raise ValueError(f"MLP: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        sizes = [in_features, *hidden_sizes, out_features]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"MLP: layer sizes must be ints >= 1, got {sizes}")
        linear = hnn.Linear if backend == "handgrad" else nn.Linear
        self.layers = nn.ModuleList(linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        activations = _HANDGRAD_ACTIVATIONS if backend == "handgrad" else _TORCH_ACTIVATIONS
        self.activation_fn = activations[activation]()
        self.activation, self.backend, self.fused = activation, backend, fused

    @property
    def uses_dense_stack(self):
        return self.backend == "handgrad" and self.fused

    def forward(self, input):
        if self.uses_dense_stack:
            return dense_stack(
                input, [layer.weight for layer in self.layers], [layer.bias for layer in self.layers], self.activation
            )
        hidden = input
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden)
            if index < len(self.layers) - 1:
                hidden = self.activation_fn(hidden)
        return hidden

    def extra_repr(self):
        return f"activation={self.activation!r}, backend={self.backend!r}, fused={self.fused}"
