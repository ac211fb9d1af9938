"""handgrad: backpropagation written by hand, inside real PyTorch.

Importing handgrad needs only torch; the Lightning parts live in handgrad.lightning
and handgrad.cli and are imported on use.
"""
from handgrad import functional, nn

__version__ = "0.1.0"
__all__ = ["functional", "nn"]
from handgrad.swap import SwapReport, swap, unswap

__all__ += ["swap", "unswap", "SwapReport"]
from handgrad.routing import routed

__all__ += ["routed"]
from handgrad.trace import trace

__all__ += ["trace"]
