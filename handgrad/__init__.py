"""handgrad: backpropagation written by hand, inside real PyTorch.

    import handgrad
    handgrad.functional.linear, handgrad.nn.Linear, handgrad.optim.Adam, handgrad.models.MLP
    handgrad.callbacks.GradientParity, handgrad.lightning.Classifier   # these import Lightning

As after ``import torch``, every public module of the package is an attribute. Importing
handgrad needs only torch: functional, nn, check, swap and trace load at once; the others
(models, optim, and the Lightning parts: lightning, callbacks, cli) load on first use.
"""
import functools as _functools  # underscored: dir(handgrad) lists handgrad's names only
import importlib as _importlib
import pkgutil as _pkgutil

from handgrad import check, functional, nn  # check is a callable package: handgrad.check(fn, *inputs)
from handgrad.routing import routed
from handgrad.swap import SwapReport, swap, unswap
from handgrad.trace import trace

__version__ = "0.1.0"
__all__ = ["functional", "nn", "check", "swap", "unswap", "SwapReport", "routed", "trace"]


@_functools.cache
def _public_modules():
    """The names of handgrad's public modules and subpackages, read from the folder (without
    importing them), so that a new module is reachable as an attribute without a list to edit."""
    return frozenset(module.name for module in _pkgutil.iter_modules(__path__) if not module.name.startswith("_"))


def __getattr__(name):
    """``handgrad.models`` and the like: import the module on first use (PEP 562)."""
    if name in _public_modules():
        return _importlib.import_module(f"handgrad.{name}")
    raise AttributeError(f"module 'handgrad' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _public_modules())
