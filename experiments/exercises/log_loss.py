"""Core exercise 8: the log loss, the negative log-likelihood of log-probabilities.

    C = -1/N sum_n p_n[y_n]

p (N, classes) are log-probabilities (a log_softmax's outputs), y (N,) the class
indices; the same as torch.nn.functional.nll_loss. Write `NLLLoss.backward` below,
then check it:

    python -m handgrad.check experiments/exercises/log_loss.py:NLLLoss

Hint: C picks one element per row, so dC/dp is -1/N at [n, y_n] and 0 elsewhere:
build that tensor (the negative one-hot rows over N). grad_output is dL/dC, a 0-d
tensor; the class indices get None.
"""
import torch
from torch.autograd import Function


class NLLLoss(Function):
    r"""Log loss :math:`C = -\frac{1}{N} \sum_n p_{n, y_n}`, p (N, classes) log-probabilities."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, target):
        return -input.gather(1, target[:, None]).sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dC, a 0-d tensor. Return (dL/dinput (N, classes), None)."""
        input, target = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """Log-probabilities p (5, 4) of random logits and class indices y (5,)."""
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (torch.log_softmax(logits, 1).requires_grad_(), torch.tensor([0, 3, 1, 1, 2]))


reference = torch.nn.functional.nll_loss  # the checker compares outputs and gradients with it
