"""Train the digit classifier with the learner's own pieces: ``--model.ops path/to/file.py``.

    handgrad fit --config experiments/configs/digits_yours.yaml --model.ops experiments/exercises/my_ops.py

The ops file names the pieces (usually imported from the exercise files beside it):

    Linear      a torch.autograd.Function (input, weight, bias) -> input @ weight.T + bias; required
    Activation  a Function (input) -> output, between the dense layers; required
    Cost        a Function (output, target) -> a 0-d cost: target is the class indices when the
                cost's example target is an integer tensor, else their one-hot rows; required
    Output      a Function (input) -> output on the last layer (a Sigmoid for the quadratic cost or
                binary cross-entropy); optional, default none (the cost gets the logits)
    Optimizer   a torch.optim.Optimizer subclass taking (params, lr); optional, default the config's
    lr          the learning rate for Optimizer; default 0.1

The network is MLP-shaped (``model.hidden_sizes``) and initialised as torch.nn.Linear; everything
else is handgrad's. Before the first update, ``fit`` checks each piece as ``python -m handgrad.check``
would (against the ``reference`` and ``example_inputs`` of the piece's exercise file) and stops with
one line per failing piece; ``--model.ops_check false`` skips that. For the parity gauge during
training, the same ``reference`` functions stand in for each piece in autograd's twin of the network.
"""
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn
from torch.autograd import Function

from handgrad.check.crash import describe, short_path

FUNCTIONS = {"Linear": 3, "Activation": 1, "Output": 1, "Cost": 2}  # name -> number of forward inputs
REQUIRED = ("Linear", "Activation", "Cost")


class LearnerOpsError(Exception):
    """fit cannot go on with the learner's pieces: ``lines`` to print, ``status`` to exit with."""

    def __init__(self, lines, status=1):
        super().__init__("\n".join(lines))
        self.lines, self.status = lines, status


@dataclass
class Piece:
    role: str  # "Linear"
    fn: object  # the Function class or Optimizer class
    module: object  # where its example_inputs and reference are looked up first

    @property
    def command(self):
        """The checker command that shows this piece's report."""
        path = inspect.getsourcefile(self.fn)
        return f"python -m handgrad.check {short_path(path)}:{self.fn.__name__}"


@dataclass
class LearnerOps:
    path: str
    pieces: dict  # role -> Piece, for the Functions present
    optimizer: Optional[Piece] = None
    lr: float = 0.1
    one_hot: bool = False  # the Cost takes one-hot rows instead of class indices
    references: dict = field(default_factory=dict)  # role -> torch's function, for the parity twin

    def cost(self, outputs, targets, reference=False):
        """The learner's cost (or its reference) of the network's outputs against class indices."""
        if self.one_hot:
            targets = nn.functional.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
        if reference:
            return self.references["Cost"](outputs, targets)
        return self.pieces["Cost"].fn.apply(outputs, targets)

    def make_optimizer(self, params):
        return self.optimizer.fn(params, lr=self.lr)


def _fail(path, message):
    raise ValueError(f"model.ops: {path}: {message}")


def _import(path):
    if not isinstance(path, str) or not path.endswith(".py"):
        raise ValueError(f"model.ops: expected the path of a Python file (.py), got {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model.ops: no such file: {path}")
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)  # the ops file imports the exercise files beside it
    name = "handgrad_ops_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect finds the source of its classes through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        _fail(path, f"importing it crashed: {describe(error)}")
    return module


def _forward_arity(function):
    """The number of inputs forward takes (without ctx in the old form), or None when unknown."""
    try:
        parameters = list(inspect.signature(function.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    count = len(parameters)
    return count if function.setup_context is not Function.setup_context else count - 1


def _function_piece(path, module, role, fn):
    from handgrad.check.command import lookup

    if not (isinstance(fn, type) and issubclass(fn, Function)):
        _fail(path, f"{role} must be a torch.autograd.Function class, got {type(fn).__name__} {fn!r:.40}")
    wanted, got = FUNCTIONS[role], _forward_arity(fn)
    if got is not None and got != wanted:
        _fail(path, f"{role} ({fn.__name__}): forward takes {got} inputs, expected {wanted} "
                    f"({'input, weight, bias' if role == 'Linear' else 'output, target' if role == 'Cost' else 'input'})")
    if fn.backward is Function.backward and fn.vjp is Function.vjp:
        _fail(path, f"{role} ({fn.__name__}) has no backward")
    owner = sys.modules.get(fn.__module__, module)
    for name in ("example_inputs", "reference"):
        if lookup(fn, owner, name) is None:
            _fail(path, f"{role} ({fn.__name__}) has no {name} (its exercise file gives one; "
                        f"import the piece from there, or define {name} beside it)")
    return Piece(role, fn, owner)


def _optimizer_piece(path, fn, lr):
    if not (isinstance(fn, type) and issubclass(fn, torch.optim.Optimizer)):
        _fail(path, f"Optimizer must be a torch.optim.Optimizer subclass, got {type(fn).__name__} {fn!r:.40}")
    try:
        inspect.signature(fn).bind([], lr=lr)
    except TypeError as error:
        _fail(path, f"Optimizer ({fn.__name__}) must take (params, lr): {error}")
    return Piece("Optimizer", fn, sys.modules.get(fn.__module__))


def _targets_one_hot(piece):
    """Whether the Cost's example target is floating point (one-hot rows) rather than class indices."""
    from handgrad.check.command import lookup

    example = lookup(piece.fn, piece.module, "example_inputs")
    try:
        example = example() if callable(example) else example
    except Exception as error:
        raise ValueError(f"model.ops: Cost ({piece.fn.__name__}): example_inputs() crashed: {describe(error)}")
    target = tuple(example)[1] if isinstance(example, (tuple, list)) and len(example) > 1 else None
    if isinstance(target, tuple):  # a shape: drawn as floating-point values
        return True
    return isinstance(target, torch.Tensor) and target.is_floating_point()


def load(path):
    """The LearnerOps of the file at path; ValueError or FileNotFoundError in one line when it is not usable."""
    from handgrad.check.command import lookup

    module = _import(path)
    missing = [name for name in REQUIRED if getattr(module, name, None) is None]
    if missing:
        defined = sorted(n for n in vars(module) if not n.startswith("_") and n[:1].isupper())
        _fail(path, f"defines no {', '.join(missing)} (expected Linear, Activation, Cost and optionally "
                    f"Output, Optimizer, lr); it defines: {', '.join(defined) or 'nothing'}")
    pieces = {role: _function_piece(path, module, role, getattr(module, role))
              for role in FUNCTIONS if getattr(module, role, None) is not None}
    lr = getattr(module, "lr", 0.1)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        _fail(path, f"lr must be a number > 0, got {lr!r}")
    optimizer = getattr(module, "Optimizer", None)
    optimizer = _optimizer_piece(path, optimizer, lr) if optimizer is not None else None
    references = {role: lookup(p.fn, p.module, "reference") for role, p in pieces.items()}
    return LearnerOps(path, pieces, optimizer, float(lr), _targets_one_hot(pieces["Cost"]), references)


def precheck(ops, seed=0):
    """One line per piece whose checks fail: the piece, the failed checks and the command that shows why."""
    from handgrad.check.command import piece_report
    from handgrad.check.compare import check_optimizer

    lines = []
    pieces = list(ops.pieces.values()) + ([ops.optimizer] if ops.optimizer else [])
    for piece in pieces:
        name = piece.fn.__name__
        if piece.role == "Optimizer":
            report = check_optimizer(piece.fn, seed, lr=ops.lr, label=name)
        else:
            report = piece_report(piece.fn, piece.module, ops.path, name, seed)
        if not report:
            unwritten = [line.error for line in report.failures if isinstance(line.error, NotImplementedError)]
            if unwritten:
                why = f"is not written yet ({describe(unwritten[0])})"
            else:
                why = "fails " + ", ".join(dict.fromkeys(line.check for line in report.failures))
            lines.append(f"model.ops: {piece.role} ({name}) {why}; see {piece.command}")
    return lines


class LearnerMLP(nn.Module):
    """Dense layers ``in_features -> *hidden_sizes -> out_features`` run by the learner's Functions:
    Linear, Activation between the layers, Output after the last. Parameters are named and
    initialised as handgrad's MLP (``layers.0.weight`` ...), so one seed gives one network.
    ``twin()`` is the same network run by each piece's reference (torch's op), for the parity gauge.
    """

    def __init__(self, in_features, hidden_sizes, out_features, ops):
        super().__init__()
        sizes = [in_features, *hidden_sizes, out_features]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"LearnerMLP: layer sizes must be ints >= 1, got {sizes}")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.sizes, self.ops, self.reference = sizes, ops, False

    def _run(self, role, *args):
        if self.reference:
            return self.ops.references[role](*args)
        return self.ops.pieces[role].fn.apply(*args)

    def forward(self, input):
        hidden = input
        for index, layer in enumerate(self.layers):
            hidden = self._run("Linear", hidden, layer.weight, layer.bias)
            if index < len(self.layers) - 1:
                hidden = self._run("Activation", hidden)
        return self._run("Output", hidden) if "Output" in self.ops.pieces else hidden

    def twin(self):
        """A copy with the same values, run by torch's ops: autograd's gradients to compare with."""
        first = self.layers[0].weight
        twin = LearnerMLP(self.sizes[0], self.sizes[1:-1], self.sizes[-1], self.ops).to(first.device, first.dtype)
        twin.load_state_dict(self.state_dict())
        twin.reference = True
        return twin

    def extra_repr(self):
        names = ", ".join(f"{role}={piece.fn.__name__}" for role, piece in self.ops.pieces.items())
        return f"ops={self.ops.path!r}: {names}"


# what the Classifier takes from the ops file instead of its own options: option -> its default
REPLACED = {"activation": "sigmoid", "loss": "cross_entropy", "backend": "handgrad", "fused": True}


@dataclass
class Learner:
    """What the Classifier holds for ``--model.ops``: the pieces and the network built from them."""

    ops: LearnerOps
    network: nn.Module


def learner_network(path, run_checks, network, swap, options):
    """The Learner for the Classifier's ``ops`` (None without); ValueError naming an option the ops file replaces."""
    if path is None:
        if not run_checks:
            raise ValueError("model.ops_check: checks the pieces of model.ops, and no model.ops is given; remove it")
        return None
    if network is not None or swap:
        raise ValueError("model.ops: the network is built from the ops file's pieces; "
                         "remove model.network and model.swap")
    for option, default in REPLACED.items():
        if options[option] != default:
            raise ValueError(f"model.{option}: with model.ops the ops file gives the "
                             f"{'cost' if option == 'loss' else 'network'}; remove model.{option}")
    ops = load(path)
    mlp = LearnerMLP(options["in_features"], list(options["hidden_sizes"]), options["num_classes"], ops)
    return Learner(ops, mlp)


def before_fit(learner, optimizer, run_checks):
    """Refuse a config optimizer beside the ops file's, then check every piece: LearnerOpsError when fit must stop."""
    ops = learner.ops
    optimizer = getattr(optimizer, "optimizer", optimizer)  # Lightning's wrapper holds the optimizer
    if ops.optimizer is not None and not isinstance(optimizer, ops.optimizer.fn):
        raise LearnerOpsError([f"optimizer: {ops.path} defines Optimizer ({ops.optimizer.fn.__name__}), "
                               f"and the config gives {type(optimizer).__name__} too; remove one"], status=2)
    if run_checks:
        lines = precheck(ops)
        if lines:  # model.ops_check=false trains anyway (docs/learner.md)
            raise LearnerOpsError(lines, status=1)
