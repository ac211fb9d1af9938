"""Core exercise 7: binary cross-entropy of probabilities, as the textbook writes it.

    C = -1/N sum_n sum_j [y_nj log a_nj + (1 - y_nj) log(1 - a_nj)]

a (N, C) are sigmoid outputs in (0, 1), y (N, C) the wanted outputs in [0, 1]. The
scaling: summed over the C output units, averaged over the N samples (torch's
binary_cross_entropy averages over the units too: C = C_units * that). Write
`BinaryCrossEntropy.backward` below, then check it:

    python -m handgrad.check experiments/exercises/binary_cross_entropy.py:BinaryCrossEntropy

Hint: dC/da = (a - y) / (a (1 - a)) / N. Behind a sigmoid, the a (1 - a) cancels
the sigmoid's derivative: that is why this cost learns fast where the quadratic
cost stalls. grad_output is dL/dC, a 0-d tensor; return None for the target.
"""
import torch
from torch.autograd import Function


class BinaryCrossEntropy(Function):
    r"""Binary cross-entropy :math:`C = -\frac{1}{N} \sum_{n,j} [y \log a + (1 - y) \log(1 - a)]`."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, target):
        per_unit = target * torch.log(input) + (1 - target) * torch.log1p(-input)
        return -per_unit.sum() / input.shape[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target = inputs
        ctx.save_for_backward(input, target)

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output: dL/dC, a 0-d tensor. Return (dL/dinput (N, C), None for the target)."""
        input, target = ctx.saved_tensors
        raise NotImplementedError("write the backward")


def example_inputs():
    """Probabilities a (5, 4) in (0.1, 0.9) and one-hot targets y (5, 4)."""
    generator = torch.Generator().manual_seed(0)
    probabilities = 0.1 + 0.8 * torch.rand(5, 4, generator=generator, dtype=torch.float64)
    target = torch.nn.functional.one_hot(torch.tensor([0, 3, 1, 1, 2]), 4).double()
    return (probabilities, target)


def reference(input, target):
    return torch.nn.functional.binary_cross_entropy(input, target, reduction="sum") / input.shape[0]
