"""Exercise 3: the backward of the Huber loss, averaged over every element.

With d = input - target, each element costs d^2 / 2 where |d| < delta and
delta (|d| - delta / 2) elsewhere; the loss is their mean. Write `HuberLoss.backward`
below, then check it:

    python -m handgrad.check experiments/exercises/huber.py:HuberLoss

Hint: both input and target need a gradient, and the mean divides by N.
"""
import torch
from torch.autograd import Function


class HuberLoss(Function):
    r"""Mean Huber loss of :math:`d = x - t`: :math:`d^2 / 2` if :math:`|d| < \delta`,
    else :math:`\delta (|d| - \delta / 2)`."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, target, delta):
        diff = input - target
        small = diff.abs() < delta
        loss = torch.where(small, 0.5 * diff * diff, delta * (diff.abs() - 0.5 * delta))
        return loss.mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, delta = inputs
        ctx.save_for_backward(input, target)
        ctx.delta = delta

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output is a 0-d tensor. Return (dL/dinput, dL/dtarget, None)."""
        input, target = ctx.saved_tensors
        raise NotImplementedError("write the backward")


differentiate_target = True  # the checker checks the target's gradient too (a cost's target is data otherwise)


def example_inputs():
    """Input and target (5, 3), drawn from the checker's seed; delta = 1.0."""
    return ((5, 3), (5, 3), 1.0)


def reference(input, target, delta):
    return torch.nn.functional.huber_loss(input, target, delta=delta)
