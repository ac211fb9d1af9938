"""One training update of a dense classifier with every derivative written out.

No autograd engine runs here: the forward keeps what the backward needs, the cost's
gradient w.r.t. the logits comes from handgrad's hand-written formulas, and
``stack_backprop`` carries it back through the layers (the same functions
the autograd.Functions use, so both paths give the same gradients). This is the
fast path for small networks, where the engine's per-op cost would dominate.
"""
import torch

from handgrad.costs import COSTS, cost, targets_matrix  # noqa: F401  (COSTS, cost re-exported: the table lives there)
from handgrad.functional.activation import sigmoid_derivative
from handgrad.functional.dense import stack_backprop, stack_forward
from handgrad.grad_mode import without_graph


def _log_softmax_rows(logits):
    """log_softmax along dim 1. The logits of a large batch come laid out with the samples along
    the contiguous side (see dense._affine); torch's kernel then runs 15 times faster as the
    log_softmax along dim 0 of the transposed, contiguous tensor (15 us instead of 230 us for
    1437 x 10 here), the same formula."""
    if logits.stride(0) == 1 and logits.stride(1) != 1:
        return torch.log_softmax(logits.t(), 0).t()
    return torch.log_softmax(logits, 1)


def cost_and_logit_grad(logits, targets, name, scale):
    """The cost summed over the samples times ``scale``, and its gradient w.r.t. the logits.

    The same formulas as handgrad's cross_entropy, mse_loss and binary_cross_entropy_with_logits
    backward passes (the costs of handgrad.costs), with none of their options: this runs once per
    update, where every small op counts.
    """
    if name in ("cross_entropy", "nll"):  # nll after log_softmax is the same cost as cross-entropy
        log_prob = _log_softmax_rows(logits)
        rows = targets[:, None]
        value = log_prob.gather(1, rows).sum() * -scale  # -sum_n log p[n, y_n]
        grad = log_prob.exp_().mul_(scale)  # softmax ...
        return value, grad.scatter_add_(1, rows, grad.new_full(rows.shape, -scale))  # ... minus one-hot
    # the sigmoid costs, against t: the one-hot targets, or the class as a column for one output unit
    output = torch.sigmoid(logits)
    target = targets_matrix(logits, targets)
    error = output - target  # a - t
    if name == "bce":  # -[t log a + (1 - t) log(1 - a)], written on the logits so that it cannot overflow
        per_class = scale / logits.shape[1]
        value = (logits.clamp(min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))).sum() * per_class
        return value, error.mul_(per_class)  # d/dz of the bce of sigmoid(z) is a - t: no sigmoid' factor
    # mse averages over the classes as well; quadratic is half the squared distance, summed over classes
    per_class = scale / logits.shape[1] if name == "mse" else scale / 2
    value = error.square().sum() * per_class
    return value, error.mul_(2 * per_class).mul_(sigmoid_derivative(output))


@without_graph
def accumulate_gradients(mlp, inputs, targets, cost_name, scale, params=None):
    """Add this chunk's gradients (cost times ``scale``) to each parameter's ``.grad``; return the cost.
    ``params`` (W_1, b_1, ..., W_L, b_L) may be passed in to save looking them up every update."""
    params = params or mlp.dense_params()
    logits, hiddens = stack_forward(inputs, mlp.activation, params)
    value, grad_logits = cost_and_logit_grad(logits, targets, cost_name, scale)
    needs = [False, False] + [True] * len(params)  # gradients of the parameters, not of the input
    _, grads = stack_backprop(grad_logits, inputs, hiddens, params[0::2], mlp.activation, None, needs)
    for param, grad in zip(params, grads):
        if param.grad is None:
            param.grad = grad
        else:
            param.grad.add_(grad)
    return value
