"""Activation modules with torch.nn's names and constructor arguments."""
from torch import nn

from handgrad import functional as F


class Sigmoid(nn.Module):
    """Applies the logistic sigmoid elementwise. Shape: any; output has the input's shape."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(nn.Module):
    """Applies tanh elementwise. Shape: any; output has the input's shape."""

    def forward(self, input):
        return F.tanh(input)


class ReLU(nn.Module):
    """Applies max(x, 0) elementwise.

    Args:
        inplace: accepted for torch's signature; must be ``False`` (handgrad computes out of place).
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(nn.Module):
    """Applies x if x > 0 else negative_slope * x elementwise.

    Args:
        negative_slope: slope for negative inputs. Default: ``1e-2``.
        inplace: accepted for torch's signature; must be ``False``.
    """

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Softmax(nn.Module):
    """Applies softmax along ``dim``.

    Args:
        dim: the dimension whose entries sum to 1.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(nn.Module):
    """Applies log(softmax(x)) along ``dim``.

    Args:
        dim: the dimension to normalise over.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
