"""handgrad: backpropagation written by hand, inside real PyTorch.

Importing handgrad needs only torch; the Lightning parts live in handgrad.lightning
and handgrad.cli and are imported on use.
"""
from handgrad import functional, nn

__version__ = "0.1.0"
__all__ = ["functional", "nn"]
from handgrad import check  # a callable package: handgrad.check(fn, *inputs)

__all__ += ["check"]
