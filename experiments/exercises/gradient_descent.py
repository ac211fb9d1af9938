"""Core exercise 10: the gradient descent update rule, as a torch optimizer.

Each parameter steps against its gradient: theta <- theta - lr * dL/dtheta.
Write `GradientDescent.step` below, then check it against handgrad's own
(handgrad.optim.GradientDescent) over a few steps:

    python -m handgrad.check experiments/exercises/gradient_descent.py:GradientDescent

Hint: the parameters sit in self.param_groups (each a dict with "params" and "lr");
each parameter's gradient is in param.grad (None for one that got no gradient: skip
it). Change the parameter in place (param.sub_(...) or param -= ...) inside
torch.no_grad(), so that autograd does not record the update.
"""
import torch
from torch.optim import Optimizer


class GradientDescent(Optimizer):
    """Plain gradient descent: theta <- theta - lr * grad, for every parameter."""

    def __init__(self, params, lr=0.1):
        if not lr >= 0:
            raise ValueError(f"GradientDescent: lr must be >= 0, got {lr!r}")
        super().__init__(params, dict(lr=lr))

    def step(self, closure=None):
        """One update from each parameter's .grad; returns the closure's loss when one is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            raise NotImplementedError("write the update of each parameter in group['params']")
        return loss
