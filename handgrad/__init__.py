"""handgrad: backpropagation written by hand, inside real PyTorch.

Importing handgrad needs only torch; the Lightning parts live in handgrad.lightning,
handgrad.callbacks and handgrad.cli and are imported on use.
"""
from handgrad import check, functional, nn  # check is a callable package: handgrad.check(fn, *inputs)
from handgrad.routing import routed
from handgrad.swap import SwapReport, swap, unswap
from handgrad.trace import trace

__version__ = "0.1.0"
__all__ = ["functional", "nn", "check", "swap", "unswap", "SwapReport", "routed", "trace"]
