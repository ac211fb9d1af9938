"""handgrad.nn.Dropout: torch.nn.Dropout's signature; identity in eval mode."""
from torch import nn

from handgrad import functional as F


class Dropout(nn.Module):
    r"""In training, zeroes each element with probability ``p`` and scales the rest by :math:`1/(1-p)`;
    in evaluation (``module.eval()``), passes the input through unchanged.

    Args:
        p: probability of an element being zeroed. Default: ``0.5``.
        inplace: accepted for torch's signature; must be ``False`` (handgrad computes out of place).

    Shape:
        - Input: :math:`(*)`, any shape.
        - Output: :math:`(*)`, the input's shape.
    """

    __constants__ = ["p", "inplace"]

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
