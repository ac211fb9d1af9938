"""Exercise 2: the backward of ELU, y = x if x > 0 else alpha (e^x - 1).

Write `ELU.backward` below, then check it:

    python -m handgrad.check experiments/exercises/elu.py:ELU

Hint: the two branches have two derivatives; torch.where picks one per element.
The saved output spares you a second exp on the negative side.
"""
import torch
from torch.autograd import Function


class ELU(Function):
    r"""ELU :math:`y = x` if :math:`x > 0` else :math:`\alpha (e^x - 1)`, elementwise."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, alpha):
        return torch.where(input > 0, input, alpha * torch.expm1(input))

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, alpha = inputs
        ctx.save_for_backward(input, output)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output):
        """Return one gradient per forward input: (dL/dinput, None), as alpha is a number."""
        input, output = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """A (4, 3) input drawn from the checker's seed, and alpha = 0.7 (a constant)."""
    return ((4, 3), 0.7)


def reference(input, alpha):
    return torch.nn.functional.elu(input, alpha)
