"""Route torch's functional calls to handgrad inside a ``with`` block.

    with handgrad.routed() as routing:
        loss = F.cross_entropy(model(x), y)  # F.linear, F.relu ... in model.forward run handgrad
        loss.backward()
    routing.handgrad_calls                   # Counter of the calls handgrad took, by op

swap replaces modules; a model whose forward calls torch.nn.functional itself has no
module to replace. routed() sets the attributes named in ROUTES (torch.nn.functional.linear,
torch.sigmoid, ...) to routers for the length of the block and puts back what was there on
exit, also when the block raises. torch looks these names up at call time, so torch's own
modules (nn.Linear calls F.linear) and Python functions (F.multi_head_attention_forward calls
linear and softmax) are routed too. A name bound before the block
(``from torch.nn.functional import linear``) keeps torch's function.

A router hands the call to torch's function instead, counted in ``routing.torch_calls`` by
op and reason, when:

- handgrad is already running: handgrad's Functions call torch.sigmoid, F.leaky_relu, ...
  in their forward, and those calls must reach torch, not recurse into handgrad;
- grad mode is off (no_grad, inference, an ordinary backward): no graph is recorded, so
  there is no backward to write by hand, and torch's op gives the same values;
- the arguments are ones torch accepts and handgrad does not (``inplace=True``, the
  deprecated size_average/reduce, softmax's dim=None, a non-floating input): see
  ``_why_torch`` and the checks in ROUTES.

Arguments that both reject (mismatched shapes, a class weight that requires grad) get
handgrad's error, which names the op and the argument.

A backward that records a graph (``create_graph=True``) and calls torch.sigmoid, as
binary_cross_entropy_with_logits' does, goes through handgrad's sigmoid: same values, and its
derivative is hand-written too, so double backward stays right.

The patch is process-wide, like any monkeypatch: other threads see it while the block is open.
"""
import functools
import inspect
import threading
from collections import Counter

import torch
import torch.nn.functional as TF

import handgrad.functional as HF


def _named_dim(arguments):
    return "dim=None" if arguments["dim"] is None else None


def _mse_args(arguments):
    if arguments["weight"] is not None:
        return "weight="
    if arguments["target"].shape != arguments["input"].shape:
        return "target shape differs from input's (torch broadcasts)"
    return None


# The routes: (owner, name, handgrad function, op's own check: bound arguments -> why torch, or None)
ROUTES = (
    (TF, "linear", HF.linear, None),
    (TF, "sigmoid", HF.sigmoid, None),
    (TF, "tanh", HF.tanh, None),
    (TF, "relu", HF.relu, None),
    (TF, "leaky_relu", HF.leaky_relu, None),
    (TF, "softmax", HF.softmax, _named_dim),
    (TF, "log_softmax", HF.log_softmax, _named_dim),
    (TF, "mse_loss", HF.mse_loss, _mse_args),
    (TF, "cross_entropy", HF.cross_entropy, None),
    (TF, "nll_loss", HF.nll_loss, None),
    (TF, "binary_cross_entropy", HF.binary_cross_entropy, None),
    (TF, "binary_cross_entropy_with_logits", HF.binary_cross_entropy_with_logits, None),
    (torch, "sigmoid", HF.sigmoid, None),
    (torch, "tanh", HF.tanh, None),
    (torch, "relu", HF.relu, None),
)

_running = threading.local()  # .depth > 0 while a router is inside handgrad, per thread


def _why_torch(signature, check, args, kwargs):
    """Why this call must go to torch's function, or None when handgrad takes it."""
    if not torch.is_grad_enabled():
        return "grad mode is off"
    try:
        bound = signature.bind(*args, **kwargs)  # fails on torch-only arguments such as out=
    except TypeError:
        return "arguments handgrad's signature does not take"
    bound.apply_defaults()
    arguments = bound.arguments
    tensors = tuple(value for value in arguments.values() if isinstance(value, torch.Tensor))
    if torch.overrides.has_torch_function(tensors):
        return "a tensor subclass with __torch_function__"
    input = arguments["input"]
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        return f"input is {getattr(input, 'dtype', type(input).__name__)}, not floating point"
    if arguments.get("inplace"):
        return "inplace=True"
    if arguments.get("size_average") is not None or arguments.get("reduce") is not None:
        return "size_average/reduce (deprecated)"
    return check(arguments) if check is not None else None


def _router(routing, op, fallback, handgrad_fn, check):
    signature = inspect.signature(handgrad_fn)

    @functools.wraps(fallback)
    def router(*args, **kwargs):
        if getattr(_running, "depth", 0):
            return fallback(*args, **kwargs)
        reason = _why_torch(signature, check, args, kwargs)
        if reason is not None:
            routing.torch_calls[op, reason] += 1
            return fallback(*args, **kwargs)
        routing.handgrad_calls[op] += 1
        _running.depth = 1
        try:
            return handgrad_fn(*args, **kwargs)
        finally:
            _running.depth = 0

    return router


class routed:
    """Context manager: inside it, the torch functions in ROUTES run handgrad's Functions.

    Attributes:
        handgrad_calls: Counter of routed calls handgrad took, keyed by op
            (``"torch.nn.functional.linear"``, ``"torch.sigmoid"``, ...).
        torch_calls: Counter of routed calls handed to torch, keyed by ``(op, reason)``.

    Blocks nest (each puts back what it found); one instance is not re-entered while open.
    """

    def __init__(self):
        self.handgrad_calls = Counter()
        self.torch_calls = Counter()
        self._found = None

    def __enter__(self):
        if self._found is not None:
            raise RuntimeError("routed: this block is already open; open a new routed() to nest")
        self._found = [(owner, name, getattr(owner, name)) for owner, name, _, _ in ROUTES]
        try:
            for (owner, name, handgrad_fn, check), (_, _, found) in zip(ROUTES, self._found):
                setattr(owner, name, _router(self, f"{owner.__name__}.{name}", found, handgrad_fn, check))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback):
        self._restore()
        return False  # an exception from the block propagates

    def _restore(self):
        for owner, name, found in reversed(self._found):
            setattr(owner, name, found)
        self._found = None
