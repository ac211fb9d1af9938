"""Small networks for the classifier, built from handgrad or torch.nn layers: a dense stack (MLP)
and a convolutional network for small images (SmallCNN)."""
import math

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

    def dense_params(self):
        """(W_1, b_1, ..., W_L, b_L), the order DenseStackFunction takes them in."""
        return [param for layer in self.layers for param in (layer.weight, layer.bias)]

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


def _layers(backend):
    """The layer classes of one backend: handgrad.nn (hand-written backward) or torch.nn (autograd)."""
    return hnn if backend == "handgrad" else nn


class SmallCNN(nn.Module):
    r"""A small convolutional classifier that takes flat images, e.g. the (N, 64) 8x8 digits.

    The input is reshaped to (N, in_channels, *image_size); then, for each entry of ``channels``,
    a stage of two 3x3 convolutions (padding 1), each followed by batch norm and ReLU, and a 2x2
    max pool that halves the image; then a dense head: flatten -> Linear(hidden) -> ReLU ->
    Dropout -> Linear(num_classes).

    Args:
        num_classes: size of the output (logits). Default: 10.
        channels: output channels of each stage. Default: (32, 64).
        hidden: width of the dense hidden layer. Default: 128.
        dropout: drop probability before the last layer. Default: 0.25.
        batch_norm: batch norm after every convolution (the convolutions then have no bias).
            Default: True.
        image_size: (H, W) of each image; each stage halves it (rounding down). Default: (8, 8).
        in_channels: channels of each image. Default: 1.
        backend: 'handgrad' (handgrad.nn layers, hand-written backward) or 'torch' (torch.nn).
            Default: 'handgrad'.

    Shape:
        - Input: :math:`(N, \text{in\_channels} \cdot H \cdot W)` or :math:`(N, \text{in\_channels}, H, W)`.
        - Output: :math:`(N, \text{num\_classes})`.

    Both backends hold the same parameters under the same names, initialised as torch.nn does,
    so one seed gives one network either way.
    """

    def __init__(
        self,
        num_classes: int = 10,
        channels: tuple[int, ...] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.25,
        batch_norm: bool = True,
        image_size: tuple[int, int] = (8, 8),
        in_channels: int = 1,
        backend: str = "handgrad",
    ):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"SmallCNN: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        channels, image_size = tuple(channels), tuple(image_size)
        sizes = (num_classes, hidden, in_channels, *channels, *image_size)
        if not channels or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes):
            raise ValueError(
                f"SmallCNN: num_classes, hidden, in_channels, image_size and channels must be ints >= 1 "
                f"(channels at least one), got num_classes={num_classes}, hidden={hidden}, "
                f"in_channels={in_channels}, channels={channels}, image_size={image_size}"
            )
        height, width = image_size
        if height >> len(channels) < 1 or width >> len(channels) < 1:
            raise ValueError(
                f"SmallCNN: {len(channels)} stages halve a {height}x{width} image to nothing; "
                f"use fewer channels entries or a larger image_size"
            )
        layers = _layers(backend)
        features = []
        for stage_in, stage_out in zip((in_channels, *channels[:-1]), channels):
            for conv_in in (stage_in, stage_out):
                features.append(layers.Conv2d(conv_in, stage_out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    features.append(layers.BatchNorm2d(stage_out))
                features.append(layers.ReLU())
            features.append(layers.MaxPool2d(2))
        self.features = nn.Sequential(*features)
        flat = channels[-1] * (height >> len(channels)) * (width >> len(channels))
        self.classifier = nn.Sequential(
            layers.Flatten(), layers.Linear(flat, hidden), layers.ReLU(), layers.Dropout(dropout),
            layers.Linear(hidden, num_classes),
        )
        self.input_shape = (in_channels, height, width)
        self.backend = backend

    def forward(self, input):
        if input.dim() == 2:
            if input.shape[1] != math.prod(self.input_shape):
                raise ValueError(
                    f"SmallCNN: input has {input.shape[1]} features, expected "
                    f"{math.prod(self.input_shape)} (in_channels x H x W = {self.input_shape})"
                )
            input = input.reshape(-1, *self.input_shape)  # (N, C*H*W) -> (N, C, H, W)
        return self.classifier(self.features(input))

    def extra_repr(self):
        return f"input_shape={self.input_shape}, backend={self.backend!r}"
