"""2-d convolution, with its backward written as convolutions again.

A convolution y = conv(x, W) is linear in x and linear in W. With g = dL/dy, its two
gradients are the two "transposes" of that bilinear map:

- dL/dx = conv_transpose(g, W): every output gradient is spread back over the input
  patch it was computed from, weighted by the kernel;
- dL/dW = correlate(x, g): each kernel tap collects input * output gradient over every
  place the kernel visited.

These two maps are bilinear too, and their derivatives are the same three maps again
(<g, conv(x, W)> = <conv_transpose(g, W), x> = <correlate(x, g), W>). So the three
Functions below call one another in their backward passes, and double backward (or any
higher order) runs through handgrad's own rules, never through torch's conv backward.
"""
import torch.nn.functional as TF
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_same_dtype


class Conv2dFunction(Function):
    r"""2-d cross-correlation :math:`y[n,o,p,q] = b_o + \sum_{c,i,j} W[o,c,i,j]\,
    \tilde x[n, c, s_h p + d_h i, s_w q + d_w j]` (:math:`\tilde x`: x zero-padded, c in o's group).

    Derivatives: :math:`\partial L/\partial x = \mathrm{conv\_transpose}(g, W)`,
    :math:`\partial L/\partial W = \mathrm{correlate}(x, g)`, :math:`\partial L/\partial b = \sum_{n,p,q} g`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias, stride, padding, dilation, groups):
        return TF.conv2d(input, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(input, weight)
        ctx.geometry = (stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # (N, O, Ho, Wo) -> (N, C, H, W)
            grad_input = ConvTranspose2dFunction.apply(grad_output, weight, tuple(input.shape[-2:]), *ctx.geometry)
        if ctx.needs_input_grad[1]:
            # (N, C, H, W) x (N, O, Ho, Wo) -> (O, C/groups, kh, kw)
            grad_weight = Conv2dWeightFunction.apply(input, grad_output, tuple(weight.shape[-2:]), *ctx.geometry)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum((0, 2, 3))  # (N, O, Ho, Wo) -> (O,)
        return grad_input, grad_weight, grad_bias, None, None, None, None


class ConvTranspose2dFunction(Function):
    r"""The input gradient of conv2d, :math:`z = \mathrm{conv\_transpose}(u, W)`: each :math:`u[n,o,p,q]`
    is added, times :math:`W[o,c,i,j]`, to the input pixel that tap (i, j) of window (p, q) read.
    ``input_size`` fixes the (H, W) it returns (strides can leave a few rows unread).

    Derivatives (with :math:`v = \partial L/\partial z`): :math:`\partial L/\partial u = \mathrm{conv2d}(v, W)`,
    :math:`\partial L/\partial W = \mathrm{correlate}(v, u)`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, input_size, stride, padding, dilation, groups):
        # output_padding: the rows and columns past the last window, which conv2d never read
        output_padding = tuple(
            size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
            for size, out, k, s, p, d in zip(input_size, input.shape[-2:], weight.shape[-2:], stride, padding, dilation)
        )
        return TF.conv_transpose2d(input, weight, None, stride, padding, output_padding, groups, dilation)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, input_size, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(input, weight)
        ctx.geometry = (stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors  # input: (N, O, Ho, Wo), grad_output: (N, C, H, W)
        grad_input = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_input = Conv2dFunction.apply(grad_output, weight, None, *ctx.geometry)  # -> (N, O, Ho, Wo)
        if ctx.needs_input_grad[1]:
            # -> (O, C/groups, kh, kw)
            grad_weight = Conv2dWeightFunction.apply(grad_output, input, tuple(weight.shape[-2:]), *ctx.geometry)
        return grad_input, grad_weight, None, None, None, None, None


class Conv2dWeightFunction(Function):
    r"""The weight gradient of conv2d, :math:`G[o,c,i,j] = \sum_{n,p,q} u[n,o,p,q]\,
    \tilde x[n, c, s_h p + d_h i, s_w q + d_w j]`: input times output gradient, summed wherever tap (i, j) went.

    Derivatives (with :math:`V = \partial L/\partial G`): :math:`\partial L/\partial x =
    \mathrm{conv\_transpose}(u, V)`, :math:`\partial L/\partial u = \mathrm{conv2d}(x, V)`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, grad_output, kernel_size, stride, padding, dilation, groups):
        # The sum over samples n and positions (p, q) is itself a convolution once batch and channels
        # swap roles: the channels c become the batch, the samples n the channels, and u becomes the
        # kernel, stepped by the dilation and dilated by the stride.
        batch, channels = input.shape[:2]
        per_group = channels // groups
        if batch == 0:  # a sum over no samples
            return input.new_zeros(grad_output.shape[1], per_group, *kernel_size)
        samples_as_channels = (
            input.reshape(batch, groups, per_group, *input.shape[-2:])
            .permute(2, 1, 0, 3, 4)
            .reshape(per_group, groups * batch, *input.shape[-2:])
        )  # (N, C, H, W) -> (C/groups, groups * N, H, W), grouped by conv group
        kernels = grad_output.transpose(0, 1)  # (N, O, Ho, Wo) -> (O, N, Ho, Wo)
        # -> (C/groups, O, >=kh, >=kw)
        taps = TF.conv2d(samples_as_channels, kernels, None, dilation, padding, stride, groups)
        kh, kw = kernel_size
        # taps past the kernel are offsets the kernel never reached (the windows would not fit)
        taps = taps[:, :, :kh, :kw]
        # (C/groups, O, kh, kw) -> (O, C/groups, kh, kw), each (c, o) pair's kh * kw taps moved as one row
        return taps.reshape(per_group, -1, kh * kw).transpose(0, 1).reshape(-1, per_group, kh, kw)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, grad_output, kernel_size, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(input, grad_output)
        ctx.geometry = (stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_weight_grad):
        input, grad_output = ctx.saved_tensors
        grad_input = grad_grad_output = None
        if ctx.needs_input_grad[0]:
            grad_input = ConvTranspose2dFunction.apply(
                grad_output, grad_weight_grad, tuple(input.shape[-2:]), *ctx.geometry
            )  # -> (N, C, H, W)
        if ctx.needs_input_grad[1]:
            grad_grad_output = Conv2dFunction.apply(input, grad_weight_grad, None, *ctx.geometry)  # -> (N, O, Ho, Wo)
        return grad_input, grad_grad_output, None, None, None, None, None


def _pair(op, name, value, minimum):
    """An int, a one-element sequence or a pair of ints, each >= minimum, as a pair (torch's forms)."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(pair, (tuple, list)) and len(pair) == 1:
        pair = (pair[0], pair[0])
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair)
    ):
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, or a tuple of one or two of them, got {value!r}")
    return tuple(pair)


def _check_image(op, input):
    check_floating(op, "input", input)
    if input.dim() not in (3, 4):
        raise ValueError(
            f"{op}: input must be 3-d (C, H, W) or 4-d (N, C, H, W), got shape {tuple(input.shape)}"
        )


def _same_padding(kernel_size, dilation):
    """torch's 'same': d (k - 1) rows of padding in all, the odd one (if any) at the bottom or right."""
    total = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    return tuple(t // 2 for t in total), tuple(t % 2 for t in total)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation) over (N, C, H, W) or (C, H, W), like torch.nn.functional.conv2d."""
    op = "conv2d"
    _check_image(op, input)
    check_floating(op, "weight", weight)
    check_same_dtype(op, "weight", weight, "input", input)
    if weight.dim() != 4:
        raise ValueError(
            f"{op}: weight must be 4-d (out_channels, in_channels/groups, kH, kW), got shape {tuple(weight.shape)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    channels, out_channels = input.shape[-3], weight.shape[0]
    if channels != weight.shape[1] * groups:
        raise ValueError(
            f"{op}: input has {channels} channels, weight expects {weight.shape[1] * groups} (groups={groups})"
        )
    if out_channels % groups != 0:
        raise ValueError(f"{op}: weight has {out_channels} output channels, not divisible by groups={groups}")
    if bias is not None:
        check_floating(op, "bias", bias)
        check_same_dtype(op, "bias", bias, "input", input)
        if bias.shape != (out_channels,):
            raise ValueError(f"{op}: bias must have shape ({out_channels},) to match weight, got {tuple(bias.shape)}")
    stride = _pair(op, "stride", stride, 1)
    dilation = _pair(op, "dilation", dilation, 1)
    kernel_size = tuple(weight.shape[-2:])
    extra = (0, 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
        padding, extra = _same_padding(kernel_size, dilation)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    else:
        padding = _pair(op, "padding", padding, 0)
    size = tuple(h + 2 * p + e for h, p, e in zip(input.shape[-2:], padding, extra))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    if size[0] < reach[0] or size[1] < reach[1]:
        raise ValueError(
            f"{op}: input is {size[0]}x{size[1]} after padding, smaller than the dilated kernel {reach[0]}x{reach[1]}"
        )

    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    if extra != (0, 0):
        input = TF.pad(input, (0, extra[1], 0, extra[0]))  # the odd row/column of 'same' padding
    output = Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups)
    return output.squeeze(0) if unbatched else output
