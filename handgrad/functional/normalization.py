"""Layer and batch normalization, with their backward written by hand.

Both standardise x over some dimensions, x_hat = (x - mean) / sqrt(var + eps) (biased
variance), then scale and shift: y = x_hat * weight + bias. Layer norm standardises each
sample over its trailing dims; batch norm standardises each channel over the batch (and
any spatial dims). The backward recomputes mean and variance from the saved input with
plain ops instead of saving them, so double backward sees how they depend on x.

Batch norm's running statistics are updated in place by the plain function, outside the
Function: they are bookkeeping, not something the loss depends on.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_number, check_same_dtype, check_tensor


def _var_mean(input, dims, correction):
    """Variance and mean over dims, as torch.var_mean (``correction`` 0: biased, 1: unbiased),
    written as the two sums of the definition: the mean, then the mean squared deviation."""
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    count = input.numel() // max(mean.numel(), 1)
    var = (centered * centered).sum(dims, keepdim=True) / max(count - correction, 0)
    return var, mean, centered


def _standardize(input, dims, eps):
    """x_hat = (x - mean) / sqrt(var + eps) over dims, and the 1 / sqrt(var + eps) it used."""
    var, _, centered = _var_mean(input, dims, 0)
    rstd = torch.rsqrt(var + eps)
    return centered * rstd, rstd


def _standardize_grad(grad_x_hat, x_hat, rstd, dims):
    r"""dL/dx of x_hat = standardize(x) over dims: :math:`r (\hat g - \overline{\hat g} - \hat x\,
    \overline{\hat g \hat x})`, the bars averaging over dims. The two means are what the
    mean and the variance pass back."""
    mean_grad = grad_x_hat.mean(dims, keepdim=True)
    mean_projection = (grad_x_hat * x_hat).mean(dims, keepdim=True)
    return (grad_x_hat - mean_grad - x_hat * mean_projection) * rstd


def _sum_except(tensor, keep_dims):
    """Sum over every dim not in keep_dims (the leading dims a per-feature parameter broadcasts over)."""
    dims = tuple(d for d in range(tensor.dim()) if d not in keep_dims)
    return tensor.sum(dims) if dims else tensor  # sum(()) would reduce every dim


class LayerNormFunction(Function):
    r"""Layer norm :math:`y = \hat x \odot w + b`, :math:`\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}` over
    the trailing ``normalized_shape`` dims. Derivatives, with :math:`\hat g = g \odot w`:
    :math:`\partial L/\partial x = r (\hat g - \overline{\hat g} - \hat x\, \overline{\hat g \hat x})`,
    :math:`\partial L/\partial w = \sum g \odot \hat x`, :math:`\partial L/\partial b = \sum g`
    (sums over the leading dims).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, normalized_ndim, weight, bias, eps):
        x_hat, _ = _standardize(input, tuple(range(-normalized_ndim, 0)), eps)
        output = x_hat if weight is None else x_hat * weight
        return output if bias is None else output + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, normalized_ndim, weight, bias, eps = inputs
        ctx.save_for_backward(input, weight)
        ctx.normalized_ndim, ctx.eps = normalized_ndim, eps

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        dims = tuple(range(-ctx.normalized_ndim, 0))
        normalized = tuple(range(input.dim() - ctx.normalized_ndim, input.dim()))
        x_hat, rstd = _standardize(input, dims, ctx.eps)
        if ctx.needs_input_grad[0]:
            grad_x_hat = grad_output if weight is None else grad_output * weight  # (*, D...)
            grad_input = _standardize_grad(grad_x_hat, x_hat, rstd, dims)  # (*, D...)
        if ctx.needs_input_grad[2]:
            grad_weight = _sum_except(grad_output * x_hat, normalized)  # (*, D...) -> (D...)
        if ctx.needs_input_grad[3]:
            grad_bias = _sum_except(grad_output, normalized)  # (*, D...) -> (D...)
        return grad_input, None, grad_weight, grad_bias, None


def _per_channel(tensor, ndim):
    """A (C,) tensor shaped (C, 1, ...) to broadcast against (N, C, ...) of ndim dims."""
    return tensor.reshape(-1, *([1] * (ndim - 2)))


class BatchNormFunction(Function):
    r"""Batch norm :math:`y = \hat x \odot w + b` per channel c,
    :math:`\hat x = (x - \mu_c) / \sqrt{\sigma_c^2 + \epsilon}`.
    Derivatives, with :math:`r = 1/\sqrt{\sigma_c^2 + \epsilon}` and sums over the M = N * spatial values of a
    channel: :math:`\partial L/\partial w = \sum g \odot \hat x`, :math:`\partial L/\partial b = \sum g`, and
    in training (``mean`` and ``var`` None: the batch's statistics)
    :math:`\partial L/\partial x = r w\, (g - \tfrac1M \partial L/\partial b - \hat x\, \tfrac1M \partial L/\partial w)`:
    the two sums that give w's and b's gradients are what the mean and the variance pass back.
    In evaluation the given running :math:`\mu, \sigma^2` are constants and :math:`\partial L/\partial x = r w\, g`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias, mean, var, eps):
        x_hat, _ = _batch_standardize(input, mean, var, eps)
        output = x_hat if weight is None else x_hat * _per_channel(weight, input.dim())
        return output if bias is None else output + _per_channel(bias, input.dim())

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias, mean, var, eps = inputs
        ctx.save_for_backward(input, weight, mean, var)
        ctx.eps = eps

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, mean, var = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        dims, ndim = (0, *range(2, input.dim())), input.dim()  # all but the channel dim
        x_hat, rstd = _batch_standardize(input, mean, var, ctx.eps)
        batch_statistics = mean is None
        if ctx.needs_input_grad[1] or (ctx.needs_input_grad[0] and batch_statistics):
            grad_weight = (grad_output * x_hat).sum(dims)  # sum of g x_hat: (N, C, *) -> (C,)
        if ctx.needs_input_grad[2] or (ctx.needs_input_grad[0] and batch_statistics):
            grad_bias = grad_output.sum(dims)  # sum of g: (N, C, *) -> (C,)
        if ctx.needs_input_grad[0]:
            scale = rstd if weight is None else rstd * _per_channel(weight, ndim)  # r w: (C, 1, ...)
            if batch_statistics:
                count = input.numel() // max(input.shape[1], 1)  # M: values per channel
                mean_g, mean_g_x_hat = _per_channel(grad_bias / count, ndim), _per_channel(grad_weight / count, ndim)
                grad_input = (grad_output - mean_g - x_hat * mean_g_x_hat) * scale  # (N, C, *)
            else:
                grad_input = grad_output * scale  # running statistics are constants: (N, C, *)
        grad_weight = grad_weight if ctx.needs_input_grad[1] else None
        grad_bias = grad_bias if ctx.needs_input_grad[2] else None
        return grad_input, grad_weight, grad_bias, None, None, None


def _batch_standardize(input, mean, var, eps):
    """x_hat and 1/sqrt(var + eps) with the batch's statistics (mean is None) or the given ones."""
    if mean is None:
        return _standardize(input, (0, *range(2, input.dim())), eps)
    rstd = torch.rsqrt(_per_channel(var, input.dim()) + eps)
    return (input - _per_channel(mean, input.dim())) * rstd, rstd


def _check_optional(op, name, value, shape, input):
    if value is None:
        return
    check_floating(op, name, value)
    check_same_dtype(op, name, value, "input", input)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(value.shape)}")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalizes over the trailing ``normalized_shape`` dims, like torch.nn.functional.layer_norm."""
    op = "layer_norm"
    check_floating(op, "input", input)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(normalized_shape) == 0 or any(isinstance(d, bool) or not isinstance(d, int) for d in normalized_shape):
        raise ValueError(
            f"{op}: normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}"
        )
    if tuple(input.shape[-len(normalized_shape):]) != normalized_shape:
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} does not end in normalized_shape {normalized_shape}"
        )
    _check_optional(op, "weight", weight, normalized_shape, input)
    _check_optional(op, "bias", bias, normalized_shape, input)
    check_number(op, "eps", eps)
    return LayerNormFunction.apply(input, len(normalized_shape), weight, bias, float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalizes each channel over the batch, like torch.nn.functional.batch_norm.

    In training it uses the batch's statistics and, when running_mean/running_var are
    given, updates them in place: running = (1 - momentum) * running + momentum * batch,
    with the unbiased variance. In evaluation it uses the running statistics.
    """
    op = "batch_norm"
    check_floating(op, "input", input)
    if input.dim() < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, *), got shape {tuple(input.shape)}")
    channels = input.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        if value is not None:
            check_tensor(op, name, value)
    _check_optional(op, "running_mean", running_mean, (channels,), input)
    _check_optional(op, "running_var", running_var, (channels,), input)
    _check_optional(op, "weight", weight, (channels,), input)
    _check_optional(op, "bias", bias, (channels,), input)
    check_number(op, "momentum", momentum)
    check_number(op, "eps", eps)
    if not training:
        if running_mean is None:
            raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var, got None")
        return BatchNormFunction.apply(input, weight, bias, running_mean, running_var, float(eps))

    per_channel = input.numel() // channels if channels else 0
    if per_channel == 1:
        raise ValueError(
            f"{op}: training needs more than 1 value per channel, got input shape {tuple(input.shape)}"
        )
    if running_mean is not None and per_channel > 0:  # an empty batch leaves them as they are, as in torch
        with torch.no_grad():
            var, mean, _ = _var_mean(input, (0, *range(2, input.dim())), 1)  # unbiased, as torch keeps it
            running_mean.mul_(1 - momentum).add_(mean.reshape(channels), alpha=momentum)
            running_var.mul_(1 - momentum).add_(var.reshape(channels), alpha=momentum)
    return BatchNormFunction.apply(input, weight, bias, None, None, float(eps))
