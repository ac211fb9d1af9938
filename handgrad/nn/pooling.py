"""Pooling modules with torch.nn's names, constructor arguments and attributes."""
from torch import nn

from handgrad import functional as F


class MaxPool2d(nn.Module):
    r"""2-d max pooling: each output is the largest input in its window.

    Args:
        kernel_size: window size (kH, kW), or one int for both.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit -inf padding on each side, at most half the kernel. Default: ``0``.
        dilation: spacing between window taps. Default: ``1``.
        return_indices: also return the flat (H*W) index of each maximum. Default: ``False``.
        ceil_mode: round the output size up, so a last partial window counts. Default: ``False``.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`.
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`, with
          :math:`H_{out} = \lfloor (H_{in} + 2p - d (k - 1) - 1) / s \rfloor + 1` (ceil with ``ceil_mode``).
    """

    __constants__ = ["kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"]

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(nn.Module):
    r"""2-d average pooling: each output is the mean of its window.

    Args:
        kernel_size: window size (kH, kW), or one int for both.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit zero padding on each side, at most half the kernel. Default: ``0``.
        ceil_mode: round the output size up, so a last partial window counts. Default: ``False``.
        count_include_pad: count the zero padding in each window's divisor. Default: ``True``.
        divisor_override: divide every window by this instead. Default: ``None``.

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`.
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`, with
          :math:`H_{out} = \lfloor (H_{in} + 2p - k) / s \rfloor + 1` (ceil with ``ceil_mode``).
    """

    __constants__ = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
