"""The cost functions, each with its derivative written by hand.

With reduction 'mean' the cost is averaged, so every gradient carries a 1/N factor (N:
the elements, or for class targets the summed weight of the rows that count); with 'sum'
it does not; with 'none' each element gets its own upstream gradient. ``_element_scale``
and ``_row_scale`` turn the upstream gradient into that factor.

The class-target costs work on (N, C) rows; the plain functions flatten torch's
(N, C, d1, ..., dK) form into rows first.
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
)


def _reduce(loss, reduction, total):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / total


def _element_scale(grad_output, reduction, count):
    """dL/dloss of each element of an elementwise loss: g / count for 'mean', g otherwise."""
    return grad_output / count if reduction == "mean" else grad_output


def _row_scale(grad_output, reduction, total):
    """dL/dloss_n of each row, as an (N, 1) column or a 0-d tensor: g / total for 'mean', where total
    is the weight of the rows that count (when every row is ignored, torch's gradient is 0, not NaN)."""
    if reduction == "none":
        return grad_output[:, None]
    if reduction == "sum":
        return grad_output
    return torch.where(total > 0, grad_output / total, torch.zeros_like(grad_output))


def _row_weights(target, weight, ignore_index, dtype):
    """Each row's weight w[y_n] (0 where y_n == ignore_index), the 0/1 mask of rows that count,
    and the targets with the ignored rows pointed at class 0 so that they can index."""
    keep = target != ignore_index
    safe_target = target.masked_fill(~keep, 0)
    keep = keep.to(dtype)
    row_weight = keep if weight is None else weight[safe_target] * keep
    return row_weight, keep, safe_target


def _target_distribution(log_prob, target, weight, ignore_index, label_smoothing):
    r"""The target distribution q of a class-index cross-entropy, (N, C), and its total weight
    (what the mean divides by):
    :math:`q_n = (1-\varepsilon) w_{y_n} e_{y_n} + \frac{\varepsilon}{C} w` on the rows that count, 0 on ignored rows."""
    num_classes = log_prob.shape[1]
    row_weight, keep, safe_target = _row_weights(target, weight, ignore_index, log_prob.dtype)
    one_hot_weight = ((1 - label_smoothing) * row_weight)[:, None]  # (N, 1): w_{y_n}, smoothed
    q = torch.zeros_like(log_prob).scatter(1, safe_target[:, None], one_hot_weight)  # (N, C)
    if label_smoothing > 0:
        class_weight = log_prob.new_ones(num_classes) if weight is None else weight  # (C,)
        q = q + (label_smoothing / num_classes) * keep[:, None] * class_weight
    return q, row_weight.sum()



class MSELossFunction(Function):
    r"""Mean squared error :math:`\ell = (x - t)^2`;
    derivative :math:`\partial \ell / \partial x = 2 (x - t) = -\partial \ell / \partial t`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, reduction):
        return _reduce((input - target) ** 2, reduction, input.numel())

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, reduction = inputs
        ctx.save_for_backward(input, target)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad_input = grad_target = None
        grad_diff = input - target  # x - t
        grad_diff *= 2 * _element_scale(grad_output, ctx.reduction, input.numel())  # 2 (x - t) g
        if ctx.needs_input_grad[0]:
            grad_input = grad_diff
        if ctx.needs_input_grad[1]:
            grad_target = -grad_diff
        return grad_input, grad_target, None


class NLLLossFunction(Function):
    r"""Negative log-likelihood on log-probabilities :math:`\ell_n = -w_{y_n} x_{n, y_n}`;
    derivative :math:`\partial \ell_n / \partial x_{n,c} = -w_{y_n}` if :math:`c = y_n`, else 0
    (and 0 on rows whose target is ``ignore_index``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, ignore_index, reduction):
        row_weight, _, safe_target = _row_weights(target, weight, ignore_index, input.dtype)
        picked = input.gather(1, safe_target[:, None]).squeeze(1)  # x_{n, y_n}: (N, C) -> (N,)
        return _reduce(-row_weight * picked, reduction, row_weight.sum())

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, ignore_index, reduction = inputs
        ctx.save_for_backward(input, target, weight)
        ctx.ignore_index, ctx.reduction = ignore_index, reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            row_weight, _, safe_target = _row_weights(target, weight, ctx.ignore_index, input.dtype)
            picked_grad = -row_weight[:, None] * _row_scale(grad_output, ctx.reduction, row_weight.sum())  # (N, 1)
            grad_input = torch.zeros_like(input)  # (N, C)
            grad_input[torch.arange(len(target)), safe_target] = picked_grad.squeeze(1)  # -w_{y_n} g_n at y_n
        return grad_input, None, None, None, None


class CrossEntropyFunction(Function):
    r"""Cross-entropy with class indices, fused with its softmax:
    :math:`\ell_n = -\sum_c q_{n,c} \log p_{n,c}`, :math:`p = \mathrm{softmax}(x)`, with the target
    distribution :math:`q_n = (1-\varepsilon) w_{y_n} e_{y_n} + \frac{\varepsilon}{C} w` (0 on ignored rows).
    Derivative, in the stable fused form "softmax minus target":
    :math:`\partial \ell_n / \partial x_n = (\sum_c q_{n,c})\, p_n - q_n`.

    The forward also returns :math:`\log p`: the backward reads it (nothing else is saved), and
    because it is an output, double backward differentiates through it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, ignore_index, reduction, label_smoothing):
        log_prob = torch.log_softmax(input, 1)
        row_weight, keep, safe_target = _row_weights(target, weight, ignore_index, input.dtype)
        picked = log_prob.gather(1, safe_target[:, None]).squeeze(1)  # log p_{n, y_n}: (N,)
        loss = -(1 - label_smoothing) * row_weight * picked
        if label_smoothing > 0:
            class_weight = input.new_ones(input.shape[1]) if weight is None else weight
            loss = loss - label_smoothing / input.shape[1] * keep * log_prob.matmul(class_weight)  # (N,)
        return _reduce(loss, reduction, row_weight.sum()), log_prob

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, ignore_index, reduction, label_smoothing = inputs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(target, weight, output[1])
        ctx.ignore_index, ctx.reduction, ctx.label_smoothing = ignore_index, reduction, label_smoothing

    @staticmethod
    def backward(ctx, grad_output, grad_log_prob):
        target, weight, log_prob = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            q, total = _target_distribution(log_prob, target, weight, ctx.ignore_index, ctx.label_smoothing)  # (N, C)
            grad_input = _softmax_minus_target(log_prob, q, grad_output, ctx.reduction, total, grad_log_prob)
        return grad_input, None, None, None, None, None


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
        q = _smoothed_target(target, weight, label_smoothing)
        loss = -(q * log_prob).sum(1)  # (N,)
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
        rows = log_prob.new_tensor(log_prob.shape[0])  # the mean divides by the number of rows
        if ctx.needs_input_grad[0]:
            q = _smoothed_target(target, weight, ctx.label_smoothing)  # (N, C)
            grad_input = _softmax_minus_target(log_prob, q, grad_output, ctx.reduction, rows, grad_log_prob)
        if ctx.needs_input_grad[1] and grad_output is not None:
            class_weight = 1.0 if weight is None else weight
            grad_target = -(1 - ctx.label_smoothing) * class_weight * log_prob  # (N, C)
            grad_target *= _row_scale(grad_output, ctx.reduction, rows)
        return grad_input, grad_target, None, None, None


def _softmax_minus_target(log_prob, q, grad_output, reduction, total, grad_log_prob):
    """dL/dx of a cross-entropy from log p = log_softmax(x): scale * ((sum_c q_c) p - q), plus
    the backward of log_softmax for a gradient that reached log p itself (double backward)."""
    p = torch.exp(log_prob)  # (N, C)
    grad_input = None
    if grad_output is not None:
        grad_input = p * q.sum(1, keepdim=True) - q  # (sum_c q_c) p - q: (N, C)
        grad_input *= _row_scale(grad_output, reduction, total)
    if grad_log_prob is not None:
        grad_through_log_prob = grad_log_prob - p * grad_log_prob.sum(1, keepdim=True)  # g - p sum_c g_c
        grad_input = grad_through_log_prob if grad_input is None else grad_input + grad_through_log_prob
    return grad_input


def _smoothed_target(target, weight, label_smoothing):
    """q = w * ((1 - eps) t + eps / C) for probability targets t: (N, C)."""
    q = target if label_smoothing == 0 else (1 - label_smoothing) * target + label_smoothing / target.shape[1]
    return q if weight is None else q * weight


class BinaryCrossEntropyFunction(Function):
    r"""Binary cross-entropy on probabilities :math:`\ell = -w (t \log x + (1-t) \log(1-x))`,
    each log clamped at -100 as torch does. Derivatives:
    :math:`\partial \ell / \partial x = w (x - t) / \max(x (1-x), 10^{-12})`,
    :math:`\partial \ell / \partial t = w (\log(1-x) - \log x)`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, weight, reduction):
        log_p, log_not_p = _clamped_logs(input)
        loss = -(target * log_p + (1 - target) * log_not_p)
        if weight is not None:
            loss = loss * weight
        return _reduce(loss, reduction, input.numel())

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, reduction = inputs
        ctx.save_for_backward(input, target, weight)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight = ctx.saved_tensors
        grad_input = grad_target = None
        scale = _element_scale(grad_output, ctx.reduction, input.numel())
        if weight is not None:
            scale = scale * weight
        if ctx.needs_input_grad[0]:
            # the 1e-12 floor (torch's too) keeps the gradient finite at x = 0 and x = 1
            grad_input = (input - target) / (input * (1 - input)).clamp(min=1e-12)  # (x - t) / (x (1 - x))
            grad_input *= scale
        if ctx.needs_input_grad[1]:
            log_p, log_not_p = _clamped_logs(input)
            grad_target = (log_not_p - log_p) * scale  # w (log(1 - x) - log x)
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
        softplus_neg = -torch.nn.functional.logsigmoid(input)  # softplus(-x), without overflow
        loss = (1 - target) * input + _log_weight(target, pos_weight) * softplus_neg
        if weight is not None:
            loss = loss * weight
        return _reduce(loss, reduction, input.numel())

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, weight, reduction, pos_weight = inputs
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight, pos_weight = ctx.saved_tensors
        grad_input = grad_target = None
        scale = _element_scale(grad_output, ctx.reduction, input.numel())
        if weight is not None:
            scale = scale * weight
        if ctx.needs_input_grad[0]:
            weighted_target = target if pos_weight is None else pos_weight * target  # k t
            grad_input = _log_weight(target, pos_weight) * torch.sigmoid(input) - weighted_target
            grad_input *= scale
        if ctx.needs_input_grad[1]:
            if pos_weight is None:
                grad_target = -input * scale  # -x
            else:
                softplus_neg = -torch.nn.functional.logsigmoid(input)  # softplus(-x)
                grad_target = ((pos_weight - 1) * softplus_neg - input) * scale
        return grad_input, grad_target, None, None, None


def _log_weight(target, pos_weight):
    """1 + (k - 1) t, the weight of softplus(-x); 1 without pos_weight."""
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
    if input.dim() == 0:
        raise ValueError(f"{op}: input must be (N, C), (C,) or (N, C, d1, ..., dK), got a 0-d tensor")


def _num_classes(input):
    """C of a (C,), (N, C) or (N, C, d1, ..., dK) input."""
    return input.shape[0] if input.dim() == 1 else input.shape[1]


def _check_class_weight(op, weight, input):
    if weight is None:
        return
    check_floating(op, "weight", weight)
    check_constant(op, "weight", weight)
    num_classes = _num_classes(input)
    if weight.shape != (num_classes,):
        raise ValueError(f"{op}: weight must have shape ({num_classes},), one per class, got {tuple(weight.shape)}")
    check_same_dtype(op, "weight", weight, "input", input)


def _check_class_target(op, input, target, ignore_index):
    """Check the class-index target: an integer tensor of input's shape without the class dim."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"{op}: ignore_index must be an int, got {type(ignore_index).__name__}")
    if target.dtype.is_floating_point or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{op}: class-index target must be an integer tensor, got dtype {target.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.dim() >= 2 else ()
    if target.shape != expected:
        raise ValueError(
            f"{op}: target of class indices must have shape {tuple(expected)} for input {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if not data_checks_enabled() or target.numel() == 0:  # inside vmap or grad, values cannot be read
        return
    num_classes = _num_classes(input)
    low, high = torch.stack(torch.aminmax(target)).tolist()  # one pass, one read of two numbers
    if low < 0 or high >= num_classes:
        bad = ((target < 0) | (target >= num_classes)) & (target != ignore_index)
        if bad.any():
            value = int(target[bad].flatten()[0])
            raise IndexError(
                f"{op}: target holds class index {value}, expected indices in [0, {num_classes}) "
                f"or ignore_index={ignore_index}"
            )


def _as_rows(input, target):
    """The (N, C) rows the Functions take: (C,) is one row; (N, C, d1, ..., dK) is one row per
    sample and position, with a class-index target (N, d1, ..., dK) or a probability target of
    input's shape flattened alike."""
    if input.dim() == 1:
        return input.unsqueeze(0), target.unsqueeze(0)
    if input.dim() == 2:
        return input, target
    rows = input.movedim(1, -1).reshape(-1, input.shape[1])  # (N, C, d...) -> (N d..., C)
    if target.dim() == input.dim():
        return rows, target.movedim(1, -1).reshape(-1, input.shape[1])
    return rows, target.reshape(-1)  # (N, d...) -> (N d...,)


def _from_rows(loss, input, reduction):
    """The per-row losses of 'none' in input's shape without the class dim."""
    if reduction != "none":
        return loss
    if input.dim() == 1:
        return loss.squeeze(0)
    return loss.reshape(input.shape[:1] + input.shape[2:])


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
    _check_class_target(op, input, target, ignore_index)
    rows, row_target = _as_rows(input, target.long())
    loss = NLLLossFunction.apply(rows, row_target, weight, ignore_index, reduction)
    return _from_rows(loss, input, reduction)


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
        rows, row_target = _as_rows(input, target)
        loss, _ = SoftCrossEntropyFunction.apply(rows, row_target, weight, reduction, label_smoothing)
    else:
        _check_class_target(op, input, target, ignore_index)
        rows, row_target = _as_rows(input, target.long())
        loss, _ = CrossEntropyFunction.apply(rows, row_target, weight, ignore_index, reduction, label_smoothing)
    return _from_rows(loss, input, reduction)


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
