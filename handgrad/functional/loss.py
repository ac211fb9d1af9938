"""The cost functions, each with its derivative written by hand.

With reduction 'mean' the cost is averaged, so every gradient carries a 1/N
factor; with 'sum' it does not; with 'none' each element gets its own upstream
gradient. `_scale` turns the upstream gradient into that factor.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import (
    check_constant,
    check_floating,
    check_number,
    check_reduction,
    check_same_dtype,
    check_tensor,
    data_checks_enabled,
    owned,
)


def _reduce(loss, reduction, total=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (loss.numel() if total is None else total)


def _scale(grad_output, reduction, total):
    """Upstream gradient of each element of the unreduced loss."""
    if reduction == "mean":
        return grad_output / total
    return grad_output


def _ignored_rows_zero(scale, keep):
    """Per-row upstream gradient with ignored rows at exactly 0, as in torch (even when every
    row is ignored and the mean's 1/total is infinite)."""
    return torch.where(keep > 0, scale, torch.zeros((), dtype=keep.dtype, device=keep.device))


def _target_weights(target, weight, ignore_index, dtype):
    """Targets safe to index with, the 0/1 mask of kept rows, each sample's weight w[y_n] (0 where
    y_n == ignore_index) and the weights' sum, which the mean divides by.

    ``ignore_index`` None means the caller saw that no row is ignored: the mask is then None,
    and so is the weight when there are no class weights (None stands for all ones), which
    spares the per-row bookkeeping in the common case.
    """
    if ignore_index is None:
        target_weight = None if weight is None else weight[target]
        return target, None, target_weight, len(target) if target_weight is None else target_weight.sum()
    keep = target != ignore_index
    safe_target = target.masked_fill(~keep, 0)
    keep = keep.to(dtype)
    target_weight = keep if weight is None else weight[safe_target] * keep
    return safe_target, keep, target_weight, target_weight.sum()


def _times(value, factor):
    """value * factor, where a None factor stands for all ones."""
    return value if factor is None else value * factor


def _column(values, rows):
    """Per-row values as an (N, 1) column: a 0-d value (the same for every row) is expanded."""
    return values[:, None] if values.dim() == 1 else values.expand(rows, 1)


class MSELossFunction(Function):
    r"""Mean squared error :math:`\ell = (x - t)^2`;
    derivative :math:`\partial \ell / \partial x = 2 (x - t) = -\partial \ell / \partial t`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, reduction):
        return _reduce(torch.sub(input, target).square_(), reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, reduction = inputs
        ctx.save_for_backward(input, target)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = mse_grad(input, target, ctx.reduction, grad_output)
        grad_target = torch.neg(grad_input) if ctx.needs_input_grad[1] else None
        return grad_input if ctx.needs_input_grad[0] else None, grad_target, None


def mse_grad(input, target, reduction, grad_output):
    """dL/dx of the mean squared error: 2 (x - t), times the reduction's factor."""
    return torch.sub(input, target).mul_(2 * _scale(grad_output, reduction, input.numel()))


class NLLLossFunction(Function):
    r"""Negative log-likelihood on log-probabilities :math:`\ell_n = -w_{y_n} x_{n, y_n}`;
    derivative :math:`\partial \ell_n / \partial x_{n, c} = -w_{y_n}` if :math:`c = y_n`, else 0."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, ignore_index, reduction):
        safe_target, _, target_weight, total = _target_weights(target, weight, ignore_index, input.dtype)
        picked = input.gather(1, safe_target[:, None])[:, 0]  # (N, C) -> (N,)
        return _reduce(-_times(picked, target_weight), reduction, total)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, ignore_index, reduction = inputs
        ctx.save_for_backward(input, target, weight)
        ctx.ignore_index, ctx.reduction = ignore_index, reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        safe_target, keep, target_weight, total = _target_weights(target, weight, ctx.ignore_index, input.dtype)
        scale = _scale(grad_output, ctx.reduction, total)  # 0-d, or (N,) for 'none'
        if keep is not None:
            scale = _ignored_rows_zero(scale, keep)
        picked_grad = _column(-_times(scale, target_weight), len(target))  # (N, 1)
        grad_input = torch.zeros_like(input).scatter_(1, safe_target[:, None], picked_grad)
        return grad_input, None, None, None, None


class CrossEntropyFunction(Function):
    r"""Cross-entropy with class indices, fused with its softmax:
    :math:`\ell_n = -(1-\varepsilon) w_{y_n} \log p_{n,y_n} - \frac{\varepsilon}{C} \sum_c w_c \log p_{n,c}`,
    :math:`p = \mathrm{softmax}(x)`. Derivative, in the stable fused form "softmax minus target":
    :math:`\partial \ell_n / \partial x_n = (\sum_c q_{n,c})\, p_n - q_n` with
    :math:`q_n = (1-\varepsilon) w_{y_n} e_{y_n} + \frac{\varepsilon}{C} w`.

    The forward also returns :math:`\log p`: the backward reads it (nothing else is saved), and
    because it is an output, double backward differentiates through it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, ignore_index, reduction, label_smoothing):
        log_prob = torch.log_softmax(input, 1)
        safe_target, keep, target_weight, total = _target_weights(target, weight, ignore_index, input.dtype)
        picked = log_prob.gather(1, safe_target[:, None])[:, 0]  # (N, C) -> (N,)
        loss = -(1 - label_smoothing) * _times(picked, target_weight)
        if label_smoothing > 0:
            all_classes = log_prob.sum(1) if weight is None else log_prob.matmul(weight)  # (N,)
            loss = loss - label_smoothing / input.shape[1] * _times(all_classes, keep)
        return _reduce(loss, reduction, total), log_prob

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, ignore_index, reduction, label_smoothing = inputs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(target, weight, output[1])
        ctx.ignore_index, ctx.reduction, ctx.label_smoothing = ignore_index, reduction, label_smoothing

    @staticmethod
    def backward(ctx, grad_output, grad_log_prob):
        target, weight, log_prob = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        grad_input = _log_softmax_grad(log_prob, grad_log_prob)
        if grad_output is not None:
            grad_loss = cross_entropy_grad(
                log_prob, target, weight, ctx.ignore_index, ctx.reduction, ctx.label_smoothing, grad_output
            )
            grad_input = grad_loss if grad_input is None else grad_input + grad_loss
        return grad_input, None, None, None, None, None


def cross_entropy_grad(log_prob, target, weight, ignore_index, reduction, label_smoothing, grad_output):
    """dL/dx of the class-index cross-entropy, from log p: (sum_c q_c) p - q, times the upstream gradient."""
    (rows, num_classes), smoothing = log_prob.shape, label_smoothing
    safe_target, keep, target_weight, total = _target_weights(target, weight, ignore_index, log_prob.dtype)
    scale = _scale(grad_output, reduction, total)  # 0-d, or (N,) for 'none'
    if keep is not None:
        scale = _ignored_rows_zero(scale, keep)
    # q_n summed over classes: (1-eps) w_y + eps/C * sum(w), on kept rows
    total_weight = num_classes if weight is None else weight.sum()
    row_sum = (1 - smoothing) * _times(1.0, target_weight) + smoothing / num_classes * _times(total_weight, keep)
    grad_input = owned(torch.exp(log_prob)).mul_(_column(scale * row_sum, rows))  # p * (N, 1)
    if smoothing > 0:
        class_weight = 1.0 if weight is None else weight
        grad_input.sub_(_column(_times(scale, keep) * (smoothing / num_classes), rows) * class_weight)
    picked_grad = _column(-(1 - smoothing) * _times(scale, target_weight), rows)  # (N, 1)
    return grad_input.scatter_add_(1, safe_target[:, None], picked_grad)


def _log_softmax_grad(log_prob, grad_log_prob):
    """Backward of log p = log_softmax(x) along dim 1, for when log p itself is used downstream."""
    if grad_log_prob is None:
        return None
    prob = owned(torch.exp(log_prob))
    return prob.mul_(-grad_log_prob.sum(1, keepdim=True)).add_(grad_log_prob)


class SoftCrossEntropyFunction(Function):
    r"""Cross-entropy with class probabilities :math:`t`:
    :math:`\ell_n = -\sum_c q_{n,c} \log p_{n,c}`, :math:`q = w \odot ((1-\varepsilon) t + \varepsilon / C)`.
    Derivatives: :math:`\partial \ell_n / \partial x_n = (\sum_c q_{n,c}) p_n - q_n`,
    :math:`\partial \ell_n / \partial t_n = -(1-\varepsilon)\, w \odot \log p_n`.
    Like the class-index form, it also returns :math:`\log p` for the backward to read.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, reduction, label_smoothing):
        log_prob = torch.log_softmax(input, 1)
        mixed = _smoothed_target(target, weight, label_smoothing)
        loss = -(log_prob * mixed).sum(1)  # (N,)
        return _reduce(loss, reduction, input.shape[0]), log_prob

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, reduction, label_smoothing = inputs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(target, weight, output[1])
        ctx.reduction, ctx.label_smoothing = reduction, label_smoothing

    @staticmethod
    def backward(ctx, grad_output, grad_log_prob):
        target, weight, log_prob = ctx.saved_tensors
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_input = _log_softmax_grad(log_prob, grad_log_prob)
        if grad_output is None:
            return grad_input, None, None, None, None
        scale = _scale(grad_output, ctx.reduction, log_prob.shape[0])
        scale = scale[:, None] if scale.dim() == 1 else scale  # (N, 1) for 'none'
        if ctx.needs_input_grad[0]:
            mixed = _smoothed_target(target, weight, ctx.label_smoothing)
            prob = owned(torch.exp(log_prob))
            grad_loss = prob.mul_(mixed.sum(1, keepdim=True)).sub_(mixed).mul_(scale)
            grad_input = grad_loss if grad_input is None else grad_input + grad_loss
        if ctx.needs_input_grad[1]:
            class_weight = 1.0 if weight is None else weight
            grad_target = (-(1 - ctx.label_smoothing) * scale * class_weight) * log_prob
        return grad_input, grad_target, None, None, None


def _smoothed_target(target, weight, label_smoothing):
    mixed = target if label_smoothing == 0 else target * (1 - label_smoothing) + label_smoothing / target.shape[1]
    return mixed if weight is None else mixed * weight


class BinaryCrossEntropyFunction(Function):
    r"""Binary cross-entropy on probabilities :math:`\ell = -w (t \log x + (1-t) \log(1-x))`,
    each log clamped at -100 as torch does. Derivatives:
    :math:`\partial \ell / \partial x = w (x - t) / \max(x (1-x), 10^{-12})`,
    :math:`\partial \ell / \partial t = w (\log(1-x) - \log x)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, reduction):
        log_p, log_not_p = _clamped_logs(input)
        loss = torch.sub(target, 1).mul_(log_not_p).sub_(log_p.mul_(target))
        if weight is not None:
            loss.mul_(weight)
        return _reduce(loss, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, reduction = inputs
        ctx.save_for_backward(input, target, weight)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight = ctx.saved_tensors
        grad_input = grad_target = None
        scale = _scale(grad_output, ctx.reduction, input.numel())
        if weight is not None:
            scale = scale * weight
        if ctx.needs_input_grad[0]:
            # the 1e-12 floor (torch's too) keeps the gradient finite at x = 0 and x = 1
            grad_input = torch.sub(input, target).mul_(scale).div_(torch.addcmul(input, input, input, value=-1).clamp_(min=1e-12))
        if ctx.needs_input_grad[1]:
            log_p, log_not_p = _clamped_logs(input)
            grad_target = log_not_p.sub_(log_p).mul_(scale)
        return grad_input, grad_target, None, None


def _clamped_logs(input):
    """log x and log(1 - x), floored at -100 so that x = 0 or 1 gives a finite cost."""
    return torch.clamp(torch.log(input), min=-100), torch.clamp(torch.log1p(-input), min=-100)


class BinaryCrossEntropyWithLogitsFunction(Function):
    r"""Binary cross-entropy on logits, :math:`\ell = w ((1-t) x + (1 + (k-1) t)\, \mathrm{softplus}(-x))`
    with pos_weight :math:`k`, softplus computed stably. Derivatives:
    :math:`\partial \ell / \partial x = w ((1 + (k-1) t) \sigma(x) - k t)`,
    :math:`\partial \ell / \partial t = w ((k-1)\, \mathrm{softplus}(-x) - x)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, reduction, pos_weight):
        # softplus(-x) = -logsigmoid(x), which torch computes without overflow
        log_sigmoid = torch.nn.functional.logsigmoid(input)
        loss = torch.rsub(target, 1).mul_(input).sub_(log_sigmoid.mul_(_log_weight(target, pos_weight)))
        if weight is not None:
            loss.mul_(weight)
        return _reduce(loss, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, reduction, pos_weight = inputs
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight, pos_weight = ctx.saved_tensors
        grad_input = grad_target = None
        scale = _scale(grad_output, ctx.reduction, input.numel())
        if weight is not None:
            scale = scale * weight
        if ctx.needs_input_grad[0]:
            weighted_target = target if pos_weight is None else pos_weight * target
            prob = owned(torch.sigmoid(input))
            grad_input = prob.mul_(_log_weight(target, pos_weight)).sub_(weighted_target).mul_(scale)
        if ctx.needs_input_grad[1]:
            if pos_weight is None:
                grad_target = torch.neg(input).mul_(scale)
            else:
                softplus_neg = owned(torch.nn.functional.logsigmoid(input)).neg_()  # softplus(-x)
                grad_target = softplus_neg.mul_(pos_weight - 1).sub_(input).mul_(scale)
        return grad_input, grad_target, None, None, None


def _log_weight(target, pos_weight):
    return 1.0 if pos_weight is None else 1 + (pos_weight - 1) * target


# ---------------------------------------------------------------------------
# torch.nn.functional-style wrappers: check the arguments, then apply the Function.
# size_average and reduce are torch's deprecated spellings of reduction; they sit in
# the signatures only so that positional calls line up with torch's.
# ---------------------------------------------------------------------------


def _check_common(op, input, target, reduction, size_average, reduce):
    check_floating(op, "input", input)
    check_tensor(op, "target", target)
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated in torch; use reduction= instead")
    check_reduction(op, reduction)


def _check_same_shape(op, input, target):
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: target must have the same shape as input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    check_floating(op, "target", target)
    check_same_dtype(op, "target", target, "input", input)


def _check_broadcast_weight(op, name, weight, input):
    if weight is None:
        return
    check_floating(op, name, weight)
    check_same_dtype(op, name, weight, "input", input)
    check_constant(op, name, weight)
    try:
        fits = torch.broadcast_shapes(weight.shape, input.shape) == input.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {tuple(weight.shape)} does not broadcast to input of shape {tuple(input.shape)}"
        )


def _check_class_input(op, input):
    if input.dim() not in (1, 2):
        raise ValueError(f"{op}: input must be (N, C) or (C,), got shape {tuple(input.shape)}")


def _check_class_weight(op, weight, input):
    if weight is None:
        return
    check_floating(op, "weight", weight)
    check_constant(op, "weight", weight)
    num_classes = input.shape[-1]
    if weight.shape != (num_classes,):
        raise ValueError(f"{op}: weight must have shape ({num_classes},), one per class, got {tuple(weight.shape)}")
    check_same_dtype(op, "weight", weight, "input", input)


def _check_class_target(op, input, target, ignore_index):
    """Check the class-index target; return the ignore_index for the Function: None when no
    target can equal it (the Function then skips the per-row bookkeeping)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"{op}: ignore_index must be an int, got {type(ignore_index).__name__}")
    if target.dtype.is_floating_point or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{op}: class-index target must be an integer tensor, got dtype {target.dtype}")
    expected = input.shape[:1] if input.dim() == 2 else ()
    if target.shape != expected:
        raise ValueError(
            f"{op}: target of class indices must have shape {tuple(expected)} for input {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if not data_checks_enabled():  # inside vmap or grad: values cannot be read
        return ignore_index
    if target.numel() == 0:
        return None
    num_classes = input.shape[-1]
    low, high = torch.stack(torch.aminmax(target)).tolist()  # one pass, one read of two numbers
    if low < 0 or high >= num_classes:
        bad = ((target < 0) | (target >= num_classes)) & (target != ignore_index)
        if bad.any():
            value = int(target[bad].flatten()[0])
            raise IndexError(
                f"{op}: target holds class index {value}, expected indices in [0, {num_classes}) "
                f"or ignore_index={ignore_index}"
            )
    return ignore_index if low <= ignore_index <= high else None


def _as_batch(input, target):
    """(C,) input and () target become a batch of one."""
    return (input[None], target[None]) if input.dim() == 1 else (input, target)


def _unbatch(loss, input_dim, reduction):
    return loss[0] if input_dim == 1 and reduction == "none" else loss


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error, like torch.nn.functional.mse_loss (input and target of the same shape)."""
    _check_common("mse_loss", input, target, reduction, size_average, reduce)
    if weight is not None:
        raise ValueError("mse_loss: weight is not supported by handgrad; scale the loss instead")
    _check_same_shape("mse_loss", input, target)
    return MSELossFunction.apply(input, target, reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood on log-probabilities (the log loss), like torch.nn.functional.nll_loss."""
    op = "nll_loss"
    _check_common(op, input, target, reduction, size_average, reduce)
    _check_class_input(op, input)
    _check_class_weight(op, weight, input)
    ignore_index = _check_class_target(op, input, target, ignore_index)
    batch_input, batch_target = _as_batch(input, target.long())
    loss = NLLLossFunction.apply(batch_input, batch_target, weight, ignore_index, reduction)
    return _unbatch(loss, input.dim(), reduction)


def cross_entropy(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
    label_smoothing=0.0,
):
    """Cross-entropy of logits against class indices or class probabilities,
    like torch.nn.functional.cross_entropy."""
    op = "cross_entropy"
    _check_common(op, input, target, reduction, size_average, reduce)
    _check_class_input(op, input)
    _check_class_weight(op, weight, input)
    check_number(op, "label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    label_smoothing = float(label_smoothing)
    if target.is_floating_point():
        _check_same_shape(op, input, target)
        batch_input, batch_target = _as_batch(input, target)
        loss, _ = SoftCrossEntropyFunction.apply(batch_input, batch_target, weight, reduction, label_smoothing)
    else:
        ignore_index = _check_class_target(op, input, target, ignore_index)
        batch_input, batch_target = _as_batch(input, target.long())
        loss, _ = CrossEntropyFunction.apply(
            batch_input, batch_target, weight, ignore_index, reduction, label_smoothing
        )
    return _unbatch(loss, input.dim(), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy on probabilities, like torch.nn.functional.binary_cross_entropy."""
    op = "binary_cross_entropy"
    _check_common(op, input, target, reduction, size_average, reduce)
    _check_same_shape(op, input, target)
    _check_broadcast_weight(op, "weight", weight, input)
    if data_checks_enabled() and input.numel() > 0:
        low, high = torch.stack(torch.aminmax(input.detach())).tolist()  # one read of two numbers
        if not 0 <= low <= high <= 1:  # also false when either is NaN
            raise ValueError(f"{op}: input must hold probabilities in [0, 1], got values in [{low}, {high}]")
    return BinaryCrossEntropyFunction.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """Binary cross-entropy on logits, like torch.nn.functional.binary_cross_entropy_with_logits."""
    op = "binary_cross_entropy_with_logits"
    _check_common(op, input, target, reduction, size_average, reduce)
    _check_same_shape(op, input, target)
    _check_broadcast_weight(op, "weight", weight, input)
    _check_broadcast_weight(op, "pos_weight", pos_weight, input)
    return BinaryCrossEntropyWithLogitsFunction.apply(input, target, weight, reduction, pos_weight)
