"""The checker's input sets: the user's inputs in float64, and more drawn from the seed.

Inputs may be tensors, shapes (a tuple of ints, drawn from the seed as standard
normal values) or constants (numbers, strings, None) passed through unchanged.

Every extra set gets fresh values for the differentiable tensors, drawn uniformly
within the range of the given values, so an input that must be positive or lie in
(0, 1) stays in its domain, and a backward that is right only at the given point
fails. Tensors sharing the first input's leading size are taken as batched:
their rows are resampled to make batch 1 and a larger batch.
"""
from dataclasses import dataclass, field

import torch

CONSTANTS = (bool, int, float, complex, str, type(None))


@dataclass
class InputSet:
    name: str  # "given", "batch 1", "batch 5", "non-contiguous" ("new values" when nothing can be strided)
    args: list
    cotangents: list = field(default_factory=list)  # upstream gradients, one per output, drawn from the seed

    def numel(self):
        return sum(a.numel() for a in self.args if isinstance(a, torch.Tensor))

    def shapes(self, target):
        """'input (4, 3), weight (2, 3), alpha=1.0'."""
        parts = []
        for i, arg in enumerate(self.args):
            name = target.names[i] if i < len(target.names) else f"input {i}"
            parts.append(f"{name} {tuple(arg.shape)}" if isinstance(arg, torch.Tensor) else f"{name}={arg!r}")
        return ", ".join(parts)


def _is_shape(value):
    return isinstance(value, (tuple, torch.Size)) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    )


def _bad_input(index, value):
    hint = ""
    if isinstance(value, list):
        hint = "; for values use torch.tensor(...), for a shape a tuple of ints"
    elif type(value).__module__ == "numpy":
        hint = "; convert it with torch.from_numpy(...)"
    return TypeError(
        f"check: input {index} must be a tensor, a shape (a tuple of ints) or a constant "
        f"(number, str, None), got {type(value).__name__} {value!r:.60}{hint}"
    )


def _own_copy(value):
    """value in float64, in new memory with the same strides: gradcheck perturbs its inputs in
    place, which must not reach the caller's tensor (nor a backward that reads it)."""
    if value.numel() > 1 and 0 in value.stride():  # an expanded tensor: strides gradcheck rejects
        copy = torch.empty(value.shape, dtype=torch.float64)
    else:
        copy = torch.empty_strided(value.shape, value.stride(), dtype=torch.float64)
    return copy.copy_(value.detach()).requires_grad_(value.requires_grad)


TARGET_NAMES = ("target", "targets")  # a cost's data: not differentiated unless asked


def given_set(inputs, generator, names=(), differentiate_target=False):
    """The user's inputs as an InputSet, the indices of the inputs to differentiate, and the
    indices of a cost's targets left alone.

    names: the inputs' names from fn's signature. An input named target(s) is data, not a
    variable: it is not differentiated unless differentiate_target is True or it was given as a
    tensor that requires grad.
    """
    if not inputs:
        raise ValueError("check: no inputs; pass the inputs after fn, e.g. check(fn, torch.randn(4, 3))")
    args = []
    asked = [isinstance(v, torch.Tensor) and v.requires_grad for v in inputs]
    for i, value in enumerate(inputs):
        if isinstance(value, torch.Tensor):
            if value.device.type != "cpu":  # the seeded draws and copies are made on the CPU
                raise ValueError(f"check: input {i} is on {value.device}; the checker runs on the CPU, "
                                 f"pass it as .cpu()")
            args.append(_own_copy(value) if value.is_floating_point() else value.detach())
        elif _is_shape(value):
            args.append(torch.randn(tuple(value), generator=generator, dtype=torch.float64).requires_grad_())
        elif isinstance(value, CONSTANTS):
            args.append(value)
        else:
            raise _bad_input(i, value)
    floating = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point()]
    if not floating:
        raise ValueError(
            "check: no input is a floating-point tensor or a shape, so there is no gradient to check; got "
            + ", ".join(type(v).__name__ for v in inputs)
        )
    held = [i for i in floating if i < len(names) and names[i] in TARGET_NAMES
            and not differentiate_target and not asked[i]]
    for i in held:
        args[i] = args[i].detach()
    floating = [i for i in floating if i not in held]
    diff = [i for i in floating if args[i].requires_grad]
    if not diff:  # nothing marked: differentiate every floating-point tensor
        diff = floating
        for i in diff:
            args[i] = args[i].requires_grad_()
    if not diff:
        raise ValueError("check: the only floating-point inputs are a cost's targets, which are not "
                         "differentiated; pass differentiate_target=True to check their gradient")
    return InputSet("given", args), diff, held


def _fresh(template, shape, generator):
    """New values of shape, uniform within the range of template's values."""
    unit = torch.rand(shape, generator=generator, dtype=torch.float64)
    if template.numel() == 0:
        return unit
    low, high = template.min().item(), template.max().item()
    if high - low > 1e-12 * max(1.0, abs(low), abs(high)):
        return unit.mul_(high - low).add_(low)
    if low == 0:  # a tensor of zeros: spread around 0
        return unit.mul_(2).sub_(1)
    return unit.add_(0.5).mul_(low)  # a constant c: spread over [c/2, 3c/2], keeping its sign


def _refreshed(args, given, diff, generator):
    out = list(args)
    for i in diff:
        out[i] = _fresh(given.args[i].detach(), args[i].shape, generator).requires_grad_()
    return out


def _strided(value):
    """The same values in a non-contiguous tensor: every other element of a wider one."""
    if not isinstance(value, torch.Tensor) or value.numel() <= 1:
        return value
    dim = max(d for d in range(value.dim()) if value.shape[d] > 1)
    wide_shape = list(value.shape)
    wide_shape[dim] *= 2
    wide = torch.zeros(wide_shape, dtype=value.dtype)
    every_other = [slice(None)] * value.dim()
    every_other[dim] = slice(None, None, 2)
    wide[tuple(every_other)] = value.detach()
    return wide[tuple(every_other)].requires_grad_(value.requires_grad)


def _batched(args):
    """(N, indices of the tensors whose leading size is N), N the first input's leading size; or None."""
    tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.dim() >= 1]
    if not tensors:
        return None
    size = tensors[0][1].shape[0]
    return size, [i for i, a in tensors if a.shape[0] == size]


def derived_sets(given, diff, generator):
    """The extra input sets drawn from generator, and (set name, reason) for those that cannot be made."""
    sets, skipped = [], []
    batch = _batched(given.args)
    if batch is None or batch[0] == 0:
        skipped.append(("batch 1, larger batch", "no input has a leading batch dimension"))
    else:
        size, batched = batch
        for rows in (1, size + 2):
            pick = torch.randint(size, (rows,), generator=generator)
            args = [a.detach().index_select(0, pick) if i in batched else a for i, a in enumerate(given.args)]
            sets.append(InputSet(f"batch {rows}", _refreshed(args, given, diff, generator)))
    args = [_strided(a) for a in _refreshed(given.args, given, diff, generator)]
    strided = any(isinstance(a, torch.Tensor) and not a.is_contiguous() for a in args)
    sets.append(InputSet("non-contiguous" if strided else "new values", args))
    return sets, skipped


def draw_cotangents(outputs, generator):
    """One standard normal upstream gradient per output."""
    return [torch.randn(o.shape, generator=generator, dtype=o.dtype) for o in outputs]
