"""Dropout: zero each element with probability p, scale the rest by 1 / (1 - p).

The mask is drawn once, in the plain function, from torch's global generator
(torch.manual_seed before the call gives the same mask), and handed to the Function as
an ordinary constant input: the backward reads the very mask the forward used.
"""
import torch
from torch.autograd import Function

from handgrad.functional._checks import check_floating, check_number


class DropoutFunction(Function):
    r"""Dropout with a given mask :math:`y = x \odot m`, :math:`m_i \in \{0, 1/(1-p)\}`;
    derivative :math:`\partial L/\partial x = g \odot m` (the same mask)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, mask):
        return input * mask

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, mask = inputs
        ctx.save_for_backward(mask)

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        grad_input = grad_output * mask if ctx.needs_input_grad[0] else None
        return grad_input, None


def dropout_mask(input, p):
    """The scaled keep mask of dropout: 1/(1-p) with probability 1-p, else 0, shaped like input.

    Drawn as torch draws it on the CPU (bernoulli(1 - p), then divided by 1 - p), so the same
    seed gives torch's mask there.
    """
    mask = torch.empty_like(input).bernoulli_(1 - p)
    return mask.div_(1 - p) if p < 1 else mask  # p = 1 keeps nothing: all zeros


def dropout(input, p=0.5, training=True, inplace=False):
    """Randomly zeroes elements with probability p and scales the rest by 1/(1-p),
    like torch.nn.functional.dropout. Identity when not training or p = 0."""
    op = "dropout"
    check_floating(op, "input", input)
    check_number(op, "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")
    if inplace:
        raise ValueError(
            f"{op}: inplace=True is not supported; handgrad's Functions compute out of place"
        )
    if not training or p == 0:
        return input
    return DropoutFunction.apply(input, dropout_mask(input, float(p)))
