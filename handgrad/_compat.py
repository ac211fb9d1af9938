"""The one place where handgrad reaches for names that torch or Lightning keep private.

Everything else in handgrad/ and datamodules/ uses public API only. Each entry here does
something the library offers no public way to do, names the versions it was tested on,
and has a test in tests/test_compat.py that fails with a clear message when a release
changes it. Keep the torch and Lightning entries in their own sections.
"""
import torch

# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------


def functorch_transforms_active():
    """Whether a torch.func transform (vmap, grad, jacrev ...) is running the current call.

    The argument checks that read tensor values (a class index out of range, a probability
    above 1) cannot run under vmap, where a value is a batch of values; torch has no public
    query for this. Tested on torch 2.4 to 2.14.
    """
    return torch._C._are_functorch_transforms_active()
