"""Watch backpropagation: record every hand-written backward call, in the order autograd makes them.

    with handgrad.trace() as calls:
        loss = F.cross_entropy(model(x), y)   # model built from handgrad ops (e.g. MLP(fused=False))
        loss.backward()
    print(calls)   # cost first, first layer last: the error travelling back through the network

    with handgrad.trace(values=True) as calls:   # each Gradient also keeps a detached copy of the tensor
        ...
    calls[0].grad_inputs[0].value

While the block runs, the ``backward`` of every handgrad ``autograd.Function`` is wrapped
by a recorder; on leaving the block (also on an error) the original ``backward`` is put
back. Autograd looks a Function's ``backward`` up when it runs the node, so graphs built
before the block are traced too if their backward runs inside it.

What it sees: one entry per Function. ``DenseStackFunction`` (the fused MLP) is one
Function, so a whole dense stack shows as one entry; the Classifier's explicit fast path
(``handgrad.backprop``, used for MLP(fused=True) in training) runs no Function at all and
leaves the trace empty. Use ``MLP(fused=False)`` or ``handgrad.nn`` layers to see each layer.
"""
import inspect
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.autograd import Function

_lock = threading.Lock()  # backward may run on autograd's device threads
_active = []  # the Trace objects of the trace() blocks now open (they nest)
_originals = {}  # Function class -> the backward staticmethod taken out of its __dict__


@dataclass(frozen=True)
class Gradient:
    """One gradient of a backward call: whose gradient it is, its shape and its 2-norm (None if not computed);
    ``value`` is a detached copy of the gradient when the trace was opened with ``values=True``, else None."""

    name: str
    shape: tuple | None
    norm: float | None
    value: torch.Tensor | None = None


@dataclass(frozen=True)
class BackwardCall:
    """One hand-written backward: the gradients that came in (w.r.t. the forward's outputs)
    and those it returned (w.r.t. the forward's inputs)."""

    op: str
    grad_outputs: tuple
    grad_inputs: tuple

    def __str__(self):
        def show(grads):
            return ", ".join(
                f"{g.name} {_shape(g.shape)} |{g.norm:.3g}|" for g in grads if g.shape is not None
            ) or "-"

        return f"{self.op:<28} in: {show(self.grad_outputs):<36} out: {show(self.grad_inputs)}"


class Trace(list):
    """The BackwardCalls of one ``trace()`` block, in the order they ran; ``str()`` gives a table."""

    def __init__(self, values=False):
        super().__init__()
        self.values = values

    def __str__(self):
        lines = [f"{len(self)} backward calls (gradients as name (shape) |2-norm|)"]
        lines += [f"{index:>3}  {call}" for index, call in enumerate(self)]
        return "\n".join(lines)


@contextmanager
def trace(values=False):
    """Record each hand-written backward that runs inside the block; yields the (growing) Trace.

    ``values=True`` also keeps a detached copy of every gradient (``Gradient.value``): what a
    picture of the deltas needs, at the price of holding them all in memory.
    """
    if not isinstance(values, bool):
        raise TypeError(f"trace: values must be a bool, got {type(values).__name__}")
    calls = Trace(values)
    with _lock:
        if not _active:
            _wrap_all()
        _active.append(calls)
    try:
        yield calls
    finally:
        with _lock:
            _active.remove(calls)
            if not _active:
                _restore_all()


def is_tracing():
    """Whether a ``trace()`` block is open (the Classifier refuses its explicit backprop then: nothing to record)."""
    return bool(_active)


def handgrad_functions():
    """Every autograd.Function subclass defined in handgrad that defines its own backward."""
    found, todo = [], list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("handgrad.") and "backward" in cls.__dict__:
            found.append(cls)
    return found


def _wrap_all():
    import handgrad.functional  # noqa: F401  (makes sure its Functions exist before we look for them)

    for cls in handgrad_functions():
        original = cls.__dict__["backward"]
        _originals[cls] = original
        cls.backward = staticmethod(_recorder(cls, original.__func__))


def _restore_all():
    for cls, original in _originals.items():
        cls.backward = original
    _originals.clear()


def _recorder(cls, backward):
    input_names = _argument_names(cls.forward)
    output_names = _argument_names(backward, skip=1)  # backward(ctx, grad_output, ...): skip ctx

    def recorded_backward(ctx, *grad_outputs):
        grads = backward(ctx, *grad_outputs)
        returned = grads if isinstance(grads, tuple) else (grads,)
        made = {}  # one BackwardCall with values, one without, made only if some open trace wants it

        def call(values):
            if values not in made:
                made[values] = BackwardCall(
                    cls.__name__,
                    tuple(_gradient(_name(output_names, i), g, values) for i, g in enumerate(grad_outputs)),
                    tuple(_gradient(f"grad_{_name(input_names, i)}", g, values) for i, g in enumerate(returned)),
                )
            return made[values]

        for calls in list(_active):
            calls.append(call(calls.values))
        return grads

    return recorded_backward


def _argument_names(function, skip=0):
    """A function's argument names ('input', 'weight', ...) and the name of its *tail, if any."""
    names, star = [], None
    for parameter in list(inspect.signature(function).parameters.values())[skip:]:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            star = parameter.name
        else:
            names.append(parameter.name)
    return names, star


def _name(input_names, index):
    names, star = input_names
    return names[index] if index < len(names) else f"{star or 'arg'}[{index - len(names)}]"


def _gradient(name, grad, values=False):
    if not isinstance(grad, torch.Tensor):
        return Gradient(name, None, None)
    with torch.no_grad():
        norm = torch.linalg.vector_norm(grad.detach().double()).item()
    return Gradient(name, tuple(grad.shape), norm, grad.detach().clone() if values else None)


def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ")"
