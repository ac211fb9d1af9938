"""handgrad.nn.Conv2d: torch.nn.Conv2d's signature, parameters and initialisation."""
import torch
from torch import nn

from handgrad import functional as F
from handgrad.nn.init import reset_like_torch


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _reversed_padding(padding, kernel_size, dilation):
    """torch.nn.Conv2d's ``_reversed_padding_repeated_twice``: (left, right, top, bottom) as F.pad takes it."""
    if isinstance(padding, str):
        totals = [d * (k - 1) if padding == "same" else 0 for k, d in zip(kernel_size, dilation)]
        return [side for total in reversed(totals) for side in (total // 2, total - total // 2)]
    return tuple(side for p in reversed(padding) for side in (p, p))


class Conv2d(nn.Module):
    r"""Applies a 2-d convolution (cross-correlation) through handgrad's hand-written backward.

    Args:
        in_channels: channels C of the input.
        out_channels: channels of the output, one kernel each.
        kernel_size: (kH, kW), or one int for both.
        stride: step between windows. Default: ``1``.
        padding: zeros added on each side, an int, a pair, or ``'valid'`` (none) / ``'same'``
            (output as large as the input; stride 1 only). Default: ``0``.
        dilation: spacing between kernel taps. Default: ``1``.
        groups: split the channels into this many independent groups. Default: ``1``.
        bias: if ``False``, the layer learns no additive bias. Default: ``True``.
        padding_mode: only ``'zeros'`` (torch's other modes are not supported). Default: ``'zeros'``.
        device, dtype: where and how the parameters are created (torch's factory kwargs).

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`.
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, with
          :math:`H_{out} = \lfloor (H_{in} + 2p - d (k - 1) - 1) / s \rfloor + 1` (and likewise W).

    Attributes:
        weight: learnable :math:`(C_{out}, C_{in}/\text{groups}, kH, kW)`, drawn from
            :math:`U(-\sqrt{k}, \sqrt{k})`, :math:`k = \text{groups} / (C_{in} \cdot kH \cdot kW)`.
        bias: learnable :math:`(C_{out})`, drawn from the same distribution.

    The parameter names, shapes and initialisation are torch.nn.Conv2d's, so a ``state_dict``
    moves between the two unchanged.
    """

    __constants__ = ["stride", "padding", "dilation", "groups", "padding_mode", "output_padding",
                     "in_channels", "out_channels", "kernel_size"]

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "groups" else 0):
                raise ValueError(f"Conv2d: {name} must be a {'positive' if name == 'groups' else 'non-negative'} int, "
                                 f"got {value!r}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups != 0:
                raise ValueError(f"Conv2d: {name}={value} must be divisible by groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode must be 'zeros' (handgrad pads with zeros only), "
                             f"got {padding_mode!r}")
        stride = _pair(stride)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be 'valid', 'same', an int or a pair, got {padding!r}")
            if padding == "same" and stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride={stride}")
        else:
            padding = _pair(padding)
        factory_kwargs = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = stride
        self.padding = padding
        self.dilation = _pair(dilation)
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        # torch keeps the F.pad form of the padding for its non-zero padding modes; handgrad never
        # reads it, but keeps it so that handgrad.swap/unswap, which change only the class, leave
        # both classes with exactly the attributes they expect
        self._reversed_padding_repeated_twice = _reversed_padding(self.padding, self.kernel_size, self.dilation)
        self.weight = nn.Parameter(
            torch.empty((out_channels, in_channels // groups, *self.kernel_size), **factory_kwargs)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory_kwargs))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_like_torch(self.weight, self.bias)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
