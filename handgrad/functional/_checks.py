"""Argument checks shared by the functional ops.

Every check runs before any work is done and raises an error that names the op,
the argument, what was expected and what came.
"""
import numbers

import torch

from handgrad._compat import functorch_transforms_active

REDUCTIONS = ("mean", "sum", "none")


def check_tensor(op, name, value):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(value).__name__}")


def check_floating(op, name, value):
    check_tensor(op, name, value)
    if not value.is_floating_point():
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {value.dtype}")


def check_same_dtype(op, name, value, ref_name, ref):
    if value.dtype != ref.dtype:
        raise TypeError(f"{op}: {name} has dtype {value.dtype} but {ref_name} has dtype {ref.dtype}")


def check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def check_number(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")


def check_dim(op, dim, ndim):
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__} {dim!r}")
    low, high = -max(ndim, 1), max(ndim, 1) - 1
    if not low <= dim <= high:
        raise IndexError(f"{op}: dim must be in [{low}, {high}] for a {ndim}-d input, got {dim}")


def check_constant(op, name, value):
    """Class weights and pos_weight are constants in handgrad, as in torch's nll_loss."""
    if value is not None and value.requires_grad:
        raise ValueError(
            f"{op}: {name} requires grad, but handgrad treats {name} as a constant; pass {name}.detach()"
        )


def data_checks_enabled():
    """Checks that read tensor values cannot run inside torch.func transforms (vmap, grad)."""
    return not functorch_transforms_active()

