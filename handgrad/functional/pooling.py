"""2-d max and average pooling, each with its backward written by hand.

Max pooling passes each window's gradient to the one pixel that won the window; average
pooling shares it equally among the pixels the window averaged. Both backward passes are
built from plain differentiable ops (scatter_add, fold, pad), so double backward works.
"""
import torch
import torch.nn.functional as TF
from torch.autograd import Function

from handgrad.functional.conv import _check_image, _pair


class MaxPool2dFunction(Function):
    r"""Max pooling :math:`y[n,c,p,q] = \max_{(i,j) \in \mathrm{window}(p,q)} x[n,c,i,j]`, returning also the
    flat index :math:`(i, j)` of each maximum. Derivative: 1 at that index, 0 elsewhere, so
    :math:`\partial L/\partial x[i,j] = \sum_{\text{windows won by } (i,j)} g`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, kernel_size, stride, padding, dilation, ceil_mode):
        return TF.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input = inputs[0]
        indices = output[1]
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.input_shape = tuple(input.shape)

    @staticmethod
    def backward(ctx, grad_output, grad_indices):
        (indices,) = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            batch, channels, height, width = ctx.input_shape
            # indices count pixels within one (H, W) plane; overlapping windows may share a winner
            flat = grad_output.new_zeros(batch, channels, height * width)
            grad_input = flat.scatter_add(2, indices.flatten(2), grad_output.flatten(2))  # (N, C, Ho*Wo) -> (N, C, H*W)
            grad_input = grad_input.view(ctx.input_shape)
        return grad_input, None, None, None, None, None


def _window_sizes(size, out_size, kernel, stride, padding, count_include_pad):
    """How many pixels each window along one axis averages, as torch counts them:
    padding counts if count_include_pad, the overhang of ceil_mode never does."""
    start = torch.arange(out_size) * stride - padding
    end = torch.clamp(start + kernel, max=size + padding)
    if count_include_pad:
        return end - start
    return torch.clamp(end, max=size) - torch.clamp(start, min=0)


class AvgPool2dFunction(Function):
    r"""Average pooling :math:`y[n,c,p,q] = \frac{1}{D_{pq}} \sum_{(i,j) \in \mathrm{window}(p,q)} x[n,c,i,j]`
    (:math:`D_{pq}`: the window's divisor). Derivative: :math:`\partial L/\partial x[i,j] =
    \sum_{\text{windows } (p,q) \ni (i,j)} g[p,q] / D_{pq}`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        return TF.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override = inputs
        ctx.input_shape = tuple(input.shape)
        ctx.options = (kernel_size, stride, padding, count_include_pad, divisor_override)

    @staticmethod
    def backward(ctx, grad_output):
        grad_input = None
        if ctx.needs_input_grad[0]:
            kernel_size, stride, padding, count_include_pad, divisor_override = ctx.options
            divisor = divisor_override or _divisors(
                ctx.input_shape, grad_output, kernel_size, stride, padding, count_include_pad
            )  # D_pq: (Ho, Wo)
            share = grad_output / divisor  # (N, C, Ho, Wo): what each pixel of a window receives
            grad_input = _sum_over_windows(share, ctx.input_shape, kernel_size, stride, padding)  # (N, C, H, W)
        return grad_input, None, None, None, None, None, None


def _divisors(input_shape, grad_output, kernel_size, stride, padding, count_include_pad):
    """Each window's divisor D_pq, (Ho, Wo): the pixels it averages along H times those along W."""
    rows, cols = (
        _window_sizes(size, out, k, s, p, count_include_pad)
        for size, out, k, s, p in zip(input_shape[-2:], grad_output.shape[-2:], kernel_size, stride, padding)
    )
    return (rows[:, None] * cols[None, :]).to(grad_output)


def _sum_over_windows(share, input_shape, kernel_size, stride, padding):
    """For every pixel, the sum of the shares of all windows that cover it: fold does that sum."""
    batch, channels, height, width = input_shape
    out_h, out_w = share.shape[-2:]
    taps = kernel_size[0] * kernel_size[1]
    columns = share.reshape(batch, channels, 1, out_h * out_w).expand(-1, -1, taps, -1)
    columns = columns.reshape(batch, channels * taps, out_h * out_w)  # (N, C*kh*kw, Ho*Wo)
    covered = tuple((out - 1) * s + k for out, s, k in zip((out_h, out_w), stride, kernel_size))
    plane = TF.fold(columns, covered, kernel_size, stride=stride)  # (N, C, covered_h, covered_w), padded coords
    # cut the padding off the top/left; cut or zero-extend the bottom/right to (H, W)
    return TF.pad(plane, (-padding[1], width + padding[1] - covered[1], -padding[0], height + padding[0] - covered[0]))


def _pool_arguments(op, kernel_size, stride, padding, dilation):
    kernel_size = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None or stride == [] or stride == () else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    if any(2 * p > k for p, k in zip(padding, kernel_size)):
        raise ValueError(f"{op}: padding must be at most half the kernel size {kernel_size}, got padding={padding}")
    return kernel_size, stride, padding, dilation, reach


def _check_fits(op, input, padding, reach):
    size = tuple(h + 2 * p for h, p in zip(input.shape[-2:], padding))
    if size[0] < reach[0] or size[1] < reach[1]:
        raise ValueError(
            f"{op}: input is {size[0]}x{size[1]} after padding, smaller than the kernel {reach[0]}x{reach[1]}"
        )


def _pooled_size(size, kernel, stride, padding, dilation, ceil_mode):
    """torch's output length along one axis: ceil_mode may add a last partial window,
    but never one that starts in the right padding."""
    span = size + 2 * padding - (dilation * (kernel - 1) + 1)
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _check_windows_see_input(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    """With dilation, a window's taps can straddle a small input and see only padding; torch then
    returns -inf and an index outside the input, which has no gradient to pass on."""
    for axis, (size, k, s, p, d) in enumerate(zip(input.shape[-2:], kernel_size, stride, padding, dilation)):
        for start in range(-p, -p + s * _pooled_size(size, k, s, p, d, ceil_mode), s):
            if not any(0 <= start + d * i < size for i in range(k)):
                raise ValueError(
                    f"{op}: a window at offset {start} along {'HW'[axis]} sees only padding "
                    f"(size {size}, kernel {k}, dilation {d}, padding {p}); use a larger input or less padding"
                )


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-d max pooling over (N, C, H, W) or (C, H, W), like torch.nn.functional.max_pool2d."""
    op = "max_pool2d"
    _check_image(op, input)
    kernel_size, stride, padding, dilation, reach = _pool_arguments(op, kernel_size, stride, padding, dilation)
    _check_fits(op, input, padding, reach)
    if dilation != (1, 1):
        _check_windows_see_input(op, input, kernel_size, stride, padding, dilation, bool(ceil_mode))
    unbatched = input.dim() == 3
    batch_input = input.unsqueeze(0) if unbatched else input
    output, indices = MaxPool2dFunction.apply(batch_input, kernel_size, stride, padding, dilation, bool(ceil_mode))
    if unbatched:
        output, indices = output.squeeze(0), indices.squeeze(0)
    return (output, indices) if return_indices else output


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling over (N, C, H, W) or (C, H, W), like torch.nn.functional.avg_pool2d."""
    op = "avg_pool2d"
    _check_image(op, input)
    kernel_size, stride, padding, _, reach = _pool_arguments(op, kernel_size, stride, padding, 1)
    _check_fits(op, input, padding, reach)
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override < 1
    ):
        raise ValueError(f"{op}: divisor_override must be a positive int or None, got {divisor_override!r}")
    unbatched = input.dim() == 3
    batch_input = input.unsqueeze(0) if unbatched else input
    output = AvgPool2dFunction.apply(
        batch_input, kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override
    )
    return output.squeeze(0) if unbatched else output
