"""The math of handgrad: one torch.autograd.Function per op, with a backward written by
hand, and a plain function per op with torch.nn.functional's name and signature."""
from handgrad.functional.activation import (
    LeakyReLUFunction,
    LogSoftmaxFunction,
    ReLUFunction,
    SigmoidFunction,
    SoftmaxFunction,
    TanhFunction,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from handgrad.functional.dense import DenseStackFunction, dense_stack
from handgrad.functional.linear import LinearFunction, linear
from handgrad.functional.loss import (
    BinaryCrossEntropyFunction,
    BinaryCrossEntropyWithLogitsFunction,
    CrossEntropyFunction,
    MSELossFunction,
    NLLLossFunction,
    SoftCrossEntropyFunction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)

__all__ = [
    "linear", "dense_stack", "DenseStackFunction", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax",
    "mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "LinearFunction", "SigmoidFunction", "TanhFunction", "ReLUFunction", "LeakyReLUFunction",
    "SoftmaxFunction", "LogSoftmaxFunction", "MSELossFunction", "CrossEntropyFunction",
    "SoftCrossEntropyFunction", "NLLLossFunction", "BinaryCrossEntropyFunction",
    "BinaryCrossEntropyWithLogitsFunction",
]
