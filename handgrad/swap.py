"""torch model -> handgrad model, in place, driven by one mapping table (SWAPS).

    model, report = handgrad.swap(model)     # nn.Linear, nn.ReLU, ... now run handgrad's backward
    print(report)                            # what changed, what stayed torch and why
    model, report = handgrad.unswap(model)   # plain torch modules again

A module is swapped by giving it its twin's class (``module.__class__ = twin``), as
torch.nn.utils.parametrize does. Nothing else about it changes: the same Parameter and
buffer objects, attributes, training flag and hooks stay, and every reference to the
module (a module shared by two parents, a variable in user code) sees the twin. So an
optimizer built before the swap keeps working and state_dict keys and values are unchanged.
This needs a twin whose instance attributes are its torch module's; tests check that.

Why a module that looks swappable stays torch:

- Exact types only. A subclass may override methods or be used by its parent without its
  forward: nn.MultiheadAttention never calls its out_proj (a NonDynamicallyQuantizableLinear,
  which does not even override forward); it hands out_proj.weight to
  F.multi_head_attention_forward, so a swapped out_proj would change nothing but the report.
- A forward set on the instance would shadow the twin's.
- Softmax/LogSoftmax with dim=None: torch guesses the dim, handgrad needs it named.
- Conv2d with a padding_mode other than 'zeros' ('reflect', 'replicate', 'circular').

``inplace=True`` (ReLU, LeakyReLU, Dropout) is swapped to out of place and the report says so:
the returned values are the same, only the input is no longer overwritten, which matters
only to code that ignores the module's return value. unswap restores ``inplace=True``.
"""
import fnmatch
from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

import handgrad.nn as hnn


def _needs_dim(module):
    if module.dim is None:
        return "dim=None: torch picks the dim implicitly, handgrad needs it named"
    return None


def _needs_zero_padding(module):
    if module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r}: handgrad's conv2d pads with zeros only"
    return None


@dataclass(frozen=True)
class Twin:
    handgrad: type
    keep_torch: Optional[Callable] = None  # module -> why this instance must stay torch, or None


# The one mapping table: torch module type -> its handgrad twin.
SWAPS = {
    nn.Linear: Twin(hnn.Linear),
    nn.Sigmoid: Twin(hnn.Sigmoid),
    nn.Tanh: Twin(hnn.Tanh),
    nn.ReLU: Twin(hnn.ReLU),
    nn.LeakyReLU: Twin(hnn.LeakyReLU),
    nn.Softmax: Twin(hnn.Softmax, _needs_dim),
    nn.LogSoftmax: Twin(hnn.LogSoftmax, _needs_dim),
    nn.MSELoss: Twin(hnn.MSELoss),
    nn.CrossEntropyLoss: Twin(hnn.CrossEntropyLoss),
    nn.NLLLoss: Twin(hnn.NLLLoss),
    nn.BCELoss: Twin(hnn.BCELoss),
    nn.BCEWithLogitsLoss: Twin(hnn.BCEWithLogitsLoss),
    nn.Conv2d: Twin(hnn.Conv2d, _needs_zero_padding),
    nn.MaxPool2d: Twin(hnn.MaxPool2d),
    nn.AvgPool2d: Twin(hnn.AvgPool2d),
    nn.Dropout: Twin(hnn.Dropout),
    nn.LayerNorm: Twin(hnn.LayerNorm),
    nn.BatchNorm1d: Twin(hnn.BatchNorm1d),
    nn.BatchNorm2d: Twin(hnn.BatchNorm2d),
}
UNSWAPS = {twin.handgrad: torch_type for torch_type, twin in SWAPS.items()}

# Set on a module whose inplace=True swap turned off, so that unswap can turn it back on.
_WAS_INPLACE = "_handgrad_was_inplace"


def type_name(cls):
    """``torch.nn.Linear`` rather than ``torch.nn.modules.linear.Linear``, where torch exports it."""
    for prefix, package in (("torch.nn", nn), ("handgrad.nn", hnn)):
        if getattr(package, cls.__name__, None) is cls:
            return f"{prefix}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class SwapRow:
    path: str  # "" is the model itself
    was: str
    now: str
    swapped: bool
    note: str = ""


class SwapReport:
    """What swap or unswap did to each module; prints as a table.

    ``report.swapped`` and ``report.skipped`` hold the rows that changed class and the
    rows left as they were; ``report["fc"]`` is the row of one module path. Skipped rows
    cover every module that runs torch code of its own (leaves and modules with their own
    parameters or buffers); pure containers such as nn.Sequential get no row.
    """

    def __init__(self, rows):
        self.rows = tuple(rows)

    @property
    def swapped(self):
        return tuple(row for row in self.rows if row.swapped)

    @property
    def skipped(self):
        return tuple(row for row in self.rows if not row.swapped)

    def __getitem__(self, path):
        for row in self.rows:
            if row.path == path:
                return row
        raise KeyError(f"SwapReport: no row for module path {path!r}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __str__(self):
        header = ("module", "was", "now", "note")
        cells = [header] + [
            (row.path or "(model)", row.was, row.now if row.swapped else "unchanged", row.note) for row in self.rows
        ]
        widths = [max(len(line[i]) for line in cells) for i in range(3)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[3] for line in cells]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"{len(self.swapped)} swapped, {len(self.skipped)} left as they were")
        return "\n".join(line.rstrip() for line in lines)

    __repr__ = __str__


def swap(model, *, include=None, exclude=None):
    """Replaces, in place, every module handgrad implements by its handgrad twin.

    Args:
        model: the torch.nn.Module to change; the model itself is swapped too if its type is in SWAPS.
        include: if given, only modules it matches are swapped. A module type from SWAPS
            (exact type), a name pattern matched with fnmatch against the module's dotted path
            (``"encoder.*"``, ``"*.fc"``; ``*`` crosses dots), or a list of these.
        exclude: modules it matches stay torch; same forms as ``include``, and it wins over it.

    Returns:
        ``(model, report)``: the same model object, and a SwapReport.

    Raises:
        TypeError: ``model`` is not an nn.Module, or include/exclude holds something that is
            neither a module type nor a str.
        ValueError: include/exclude names a type with no handgrad twin, or holds a pattern that
            matches no module path. It is an error, not a warning, because swap changes the model
            in place: a mistyped exclude pattern would silently swap the very module meant to be
            kept. Everything is checked before any module changes. (A type from SWAPS that the
            model does not contain is fine: that is the table's vocabulary, not a typo.)
    """
    _check_model("swap", model)
    paths = _module_paths(model)
    include = _selectors("include", include, paths)
    exclude = _selectors("exclude", exclude, paths)
    rows = []
    for module, where in paths.items():
        was = type_name(type(module))
        twin, note = _decide(module, where, include, exclude)
        if twin is not None:
            if getattr(module, "inplace", False):
                module.inplace = False
                setattr(module, _WAS_INPLACE, True)
                note = "inplace=True -> out of place (same values; the input is not overwritten)"
            module.__class__ = twin.handgrad
            rows.append(SwapRow(where[0], was, type_name(twin.handgrad), True, note))
        elif note is not None:
            rows.append(SwapRow(where[0], was, was, False, note))
    return model, SwapReport(rows)


def unswap(model):
    """Turns every handgrad twin in ``model`` back into its torch module, in place.

    The same Parameter objects, buffers and hooks stay, as in swap, and ``inplace=True``
    that swap turned off comes back. Returns ``(model, report)``; the report lists the
    modules that changed.
    """
    _check_model("unswap", model)
    rows = []
    for module, where in _module_paths(model).items():
        torch_type = UNSWAPS.get(type(module))
        if torch_type is None:
            continue
        note = ""
        if module.__dict__.pop(_WAS_INPLACE, False):
            module.inplace = True
            note = "inplace=True restored"
        was = type_name(type(module))
        module.__class__ = torch_type
        rows.append(SwapRow(where[0], was, type_name(torch_type), True, note))
    return model, SwapReport(rows)


def _check_model(op, model):
    if not isinstance(model, nn.Module):
        raise TypeError(f"{op}: model must be a torch.nn.Module, got {type(model).__name__}")


def _module_paths(model):
    """Each module once, in model order, with every dotted path that reaches it."""
    paths = {}
    for path, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(module, []).append(path)
    return paths


def _selectors(arg, value, paths):
    """include/exclude as a list of types and patterns, checked; None stays None."""
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    known = ", ".join(type_name(t) for t in SWAPS)
    for item in items:
        if isinstance(item, str):
            if not any(fnmatch.fnmatchcase(path, item) for where in paths.values() for path in where):
                examples = ", ".join(repr(path) for where in list(paths.values())[1:4] for path in where[:1])
                raise ValueError(
                    f"swap: {arg} pattern {item!r} matches no module path of this model "
                    f"(paths look like {examples or 'nothing: the model has no submodules'})"
                )
        elif isinstance(item, type):
            if item in UNSWAPS:
                raise ValueError(
                    f"swap: {arg} holds {type_name(item)}; name the torch type it replaces, "
                    f"{type_name(UNSWAPS[item])}"
                )
            if item not in SWAPS:
                raise ValueError(
                    f"swap: {arg} holds {type_name(item)}, which has no handgrad twin "
                    f"(swap takes exact types); expected one of {known}, or a name pattern (str)"
                )
        else:
            raise TypeError(
                f"swap: {arg} must hold module types or name patterns (str), "
                f"got {type(item).__name__} {item!r}"
            )
    return items


def _matches(module, where, items):
    """The first include/exclude item that matches the module, or None."""
    for item in items:
        if isinstance(item, str):
            if any(fnmatch.fnmatchcase(path, item) for path in where):
                return item
        elif type(module) is item:
            return item
    return None


def _decide(module, where, include, exclude):
    """(twin to swap to, note), or (None, why it stays); (None, None) for a pure container."""
    cls = type(module)
    twin = SWAPS.get(cls)
    if twin is None:
        if cls.__module__.split(".")[0] == "handgrad":
            return None, "already handgrad"
        base = next((t for t in SWAPS if isinstance(module, t)), None)
        if base is not None:
            return None, f"subclass of {type_name(base)}: swap takes exact types only"
        own_state = next(module.parameters(recurse=False), None) is not None or next(
            module.buffers(recurse=False), None) is not None
        if own_state or next(module.children(), None) is None:
            return None, "no handgrad twin"
        return None, None
    if include is not None and _matches(module, where, include) is None:
        return None, "not matched by include"
    hit = _matches(module, where, exclude) if exclude is not None else None
    if hit is not None:
        return None, f"excluded by {type_name(hit) if isinstance(hit, type) else repr(hit)}"
    if "forward" in vars(module):
        return None, "its forward is set on the instance and would shadow the twin's"
    reason = twin.keep_torch(module) if twin.keep_torch is not None else None
    if reason is not None:
        return None, reason
    return twin, ""
