"""handgrad.nn.Linear: torch.nn.Linear's signature, parameters and initialisation."""
import torch
from torch import nn

from handgrad.functional import linear
from handgrad.nn.init import reset_like_torch


class Linear(nn.Module):
    r"""Applies :math:`y = x W^\top + b` through handgrad's hand-written backward.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: if ``False``, the layer learns no additive bias. Default: ``True``.
        device, dtype: where and how the parameters are created (torch's factory kwargs).

    Shape:
        - Input: :math:`(*, H_{in})` with :math:`H_{in} = \text{in\_features}`.
        - Output: :math:`(*, H_{out})` with :math:`H_{out} = \text{out\_features}`.

    Attributes:
        weight: learnable :math:`(H_{out}, H_{in})`, drawn from :math:`U(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/H_{in}`.
        bias: learnable :math:`(H_{out})`, drawn from the same distribution.

    The parameter names, shapes and initialisation are torch.nn.Linear's, so a
    ``state_dict`` moves between the two unchanged.
    """

    __constants__ = ["in_features", "out_features"]

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        factory_kwargs = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty((out_features, in_features), **factory_kwargs))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory_kwargs))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_like_torch(self.weight, self.bias)

    def forward(self, input):
        return linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
