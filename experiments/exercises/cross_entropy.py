"""Core exercise 6: categorical cross-entropy on logits, averaged over the batch.

    C = -1/N sum_n log softmax(z_n)[y_n]

z (N, classes) are the last layer's outputs (logits), y (N,) the class indices;
the same as torch.nn.functional.cross_entropy. Write `CrossEntropy.backward`
below, then check it:

    python -m handgrad.check experiments/exercises/cross_entropy.py:CrossEntropy

Hint: dC/dz_n = (softmax(z_n) - q_n) / N, with q_n the one-hot row of y_n: the
softmax and the log cancel into this short form. grad_output is dL/dC, a 0-d
tensor. The class indices get no gradient: return None in their place.
"""
import torch
from torch.autograd import Function


class CrossEntropy(Function):
    r"""Cross-entropy on logits :math:`C = -\frac{1}{N} \sum_n \log \mathrm{softmax}(z_n)_{y_n}`."""

    generate_vmap_rule = True  # lets torch.func.vmap batch this Function

    @staticmethod
    def forward(input, target):
        log_prob = torch.log_softmax(input, 1)  # (N, classes)
        return -log_prob.gather(1, target[:, None]).sum() / input.shape[0]

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
    """Logits z (5, 4) drawn from the checker's seed and class indices y (5,)."""
    return ((5, 4), torch.tensor([0, 3, 1, 1, 2]))


reference = torch.nn.functional.cross_entropy  # the checker compares outputs and gradients with it
