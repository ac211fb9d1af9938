"""Each entry of handgrad/_compat.py still does what handgrad relies on in this torch release.

A failure here means a release renamed or changed a private name: update _compat.py (and the
tested versions in its comment), not the code that calls it.
"""
import torch

from handgrad import _compat


def test_functorch_transforms_active_sees_vmap_and_grad():
    assert hasattr(torch._C, "_are_functorch_transforms_active"), (
        f"torch {torch.__version__} has no torch._C._are_functorch_transforms_active: "
        "update handgrad._compat.functorch_transforms_active"
    )
    seen = []

    def record(x):
        seen.append(_compat.functorch_transforms_active())
        return x.sum()

    record(torch.ones(2))
    torch.func.vmap(record)(torch.ones(3, 2))
    torch.func.grad(record)(torch.ones(2))
    assert seen == [False, True, True], (
        f"torch {torch.__version__}: functorch_transforms_active gave {seen} outside / in vmap / in grad, "
        "expected [False, True, True]: update handgrad._compat"
    )
