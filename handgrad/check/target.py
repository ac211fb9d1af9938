"""What the checker calls: a torch.autograd.Function (the class or its .apply) or any
function of tensors, with a label and a name for each input."""
import inspect
from dataclasses import dataclass
from typing import Callable, Optional

from torch.autograd import Function

from handgrad.check.crash import short_path


@dataclass
class Target:
    call: Callable  # fn(*args) -> tensor or tuple of tensors
    function: Optional[type]  # the Function subclass, when the checker was given one
    label: str  # "Softplus", "linear", "<lambda>"
    names: list  # names of the positional inputs, from the signature
    source: Optional[str]  # "Softplus.backward (exercises/softplus.py:30)", where to look when torch raises

    def input_label(self, index):
        """'input 1 (weight)', or 'input 1' when the signature has no name for it."""
        if index < len(self.names):
            return f"input {index} ({self.names[index]})"
        return f"input {index}"


def _function_class(fn):
    """The Function subclass behind fn, when fn is one or is its .apply, else None."""
    if isinstance(fn, type) and issubclass(fn, Function):
        return fn
    owner = getattr(fn, "__self__", None)
    if getattr(fn, "__name__", None) == "apply" and isinstance(owner, type) and issubclass(owner, Function):
        return owner
    return None


def _positional_names(fn, skip_first=False):
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return []
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[1:] if skip_first else positional


def _source(fn, label):
    try:
        path = inspect.getsourcefile(fn)
        lines, first = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return label
    # getsourcelines starts at the first decorator (@staticmethod); point at the def itself
    offset = next((k for k, text in enumerate(lines) if text.lstrip().startswith(("def ", "async def "))), 0)
    return f"{label} ({short_path(path)}:{first + offset})"


def uses_setup_context(function):
    """True when forward takes no ctx and setup_context saves for backward (the torch.func form)."""
    return function.setup_context is not Function.setup_context


def resolve(fn):
    """A Target for fn, or a TypeError saying what fn should have been."""
    function = _function_class(fn)
    if function is not None:
        # the old form forward(ctx, *inputs) has ctx first; the setup_context form has none
        names = _positional_names(function.forward, skip_first=not uses_setup_context(function))
        label = function.__name__
        return Target(function.apply, function, label, names, _source(function.backward, f"{label}.backward"))
    if isinstance(fn, Function):
        raise TypeError(
            f"check: fn must be a torch.autograd.Function class or its .apply, got an instance of "
            f"{type(fn).__name__}; pass {type(fn).__name__} itself"
        )
    if isinstance(fn, type) or not callable(fn):
        kind = f"the class {fn.__name__}" if isinstance(fn, type) else f"{type(fn).__name__} {fn!r:.40}"
        raise TypeError(
            f"check: fn must be a torch.autograd.Function (the class or its .apply) or a function of "
            f"tensors, got {kind}"
        )
    # a builtin's __qualname__ names torch's internal class (_VariableFunctionsClass.sigmoid)
    label = fn.__name__ if inspect.isbuiltin(fn) else getattr(fn, "__qualname__", None) or type(fn).__name__
    return Target(fn, None, label, _positional_names(fn), _source(fn, label))
