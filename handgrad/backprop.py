"""One training update of a dense classifier with every derivative written out.

No autograd engine runs here: the forward keeps what the backward needs, the cost's
gradient w.r.t. the logits comes from the fast tier's fused formulas, and
``stack_backprop`` carries it back through the layers. ``handgrad.fast`` holds that
code and is tested equal to the reference Functions of ``handgrad.functional``; this is the
classifier's path for small networks, where the engine's per-op cost would dominate.
"""
from handgrad.costs import COSTS, cost  # noqa: F401  (COSTS, cost re-exported: the table lives there)
from handgrad.fast import cost_and_logit_grad, stack_backprop, stack_forward  # noqa: F401 (re-exported)
from handgrad.grad_mode import without_graph


@without_graph
def accumulate_gradients(mlp, inputs, targets, cost_name, scale, params=None):
    """Add this chunk's gradients (cost times ``scale``) to each parameter's ``.grad``; return the cost.
    ``params`` (W_1, b_1, ..., W_L, b_L) may be passed in to save looking them up every update."""
    params = params or mlp.dense_params()
    logits, hiddens = stack_forward(inputs, mlp.activation, params)
    value, grad_logits = cost_and_logit_grad(logits, targets, cost_name, scale)
    grads = stack_backprop(grad_logits, inputs, hiddens, params[0::2], mlp.activation)
    for param, grad in zip(params, grads):
        if param.grad is None:
            param.grad = grad
        else:
            param.grad.add_(grad)
    return value
