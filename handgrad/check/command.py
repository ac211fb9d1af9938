"""Check a Function in a learner's file from the command line.

    python -m handgrad.check path/to/file.py:Name [--seed 0]

The file gives the inputs, looked up on Name first, then in the file:
  example_inputs   a function returning a tuple of inputs (tensors, shapes as tuples
                   of ints, constants), or that tuple itself; required
  reference        a function of the same inputs to compare against (e.g. torch's op);
                   optional
  differentiate_target  True to differentiate an input named target (a cost's data); optional
Two pieces that are not Functions are compared with handgrad's own on random inputs instead:
a torch.optim.Optimizer subclass (with handgrad.optim.GradientDescent), and a function in a
file that sets check_as = "backprop" (with the backward of handgrad.functional.dense.DenseStackFunction).
Exit status: 0 when every check passes, 1 when one fails (the report says which),
2 on a usage error (one line on stderr, no traceback).
"""
import argparse
import importlib.util
import os
import sys

import torch

from handgrad.check import compare
from handgrad.check.crash import describe
from handgrad.check.run import plan, run


class UsageError(Exception):
    """The command cannot start; the message is the one line it prints."""


class LearnerCrash(Exception):
    """The learner's file crashed before any check ran (on import, or in example_inputs)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the usage too; one line is the contract
        raise UsageError(message)


def _parser():
    parser = _Parser(prog="python -m handgrad.check", description="Check the backward of a Function in a file.")
    parser.add_argument("target", help="path/to/file.py:Name, a torch.autograd.Function (or function) in that file")
    parser.add_argument("--seed", type=int, default=0, help="seed for the extra inputs and upstream gradients")
    return parser


def _import(path):
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)  # let the file import its neighbours, as `python file.py` would
    name = "handgrad_check_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise UsageError(f"cannot import {path}: expected a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect finds the source of its classes through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise LearnerCrash(f"importing {path} crashed: {describe(error)}") from error
    return module


def _defined_names(module):
    return sorted(n for n, v in vars(module).items()
                  if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == module.__name__)


def lookup(obj, module, name):
    """name looked up on obj, then in module, then in the modules of obj's base classes (a learner's
    subclass of an exercise's Function finds the exercise file's example_inputs), or None."""
    value = getattr(obj, name, None)
    if value is not None:
        return value
    modules = [module] + [sys.modules.get(base.__module__) for base in getattr(obj, "__mro__", ())[1:]]
    for owner in modules:
        value = getattr(owner, name, None)
        if value is not None:
            return value
    return None


def comparison(fn, module):
    """'backprop' or 'optimizer' for a piece checked against handgrad's own, None for a Function."""
    if isinstance(fn, type) and issubclass(fn, torch.optim.Optimizer):
        return "optimizer"
    return "backprop" if lookup(fn, module, "check_as") == "backprop" else None


def target_of(spec):
    """(path, module, fn) named by 'path/to/file.py:Name'; UsageError when they cannot be found."""
    path, colon, name = spec.rpartition(":")
    if not colon or not path or not name:
        raise UsageError(f"expected path/to/file.py:Name, got {spec!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    module = _import(path)
    if not hasattr(module, name):
        raise UsageError(f"{path} has no {name!r}; it defines: {', '.join(_defined_names(module)) or 'nothing callable'}")
    return path, module, getattr(module, name)


def inputs_of(fn, module, path, name):
    """(inputs, reference) for fn: its example_inputs called, and its reference or None."""
    example = lookup(fn, module, "example_inputs")
    if example is None:
        raise UsageError(f"{path} gives no inputs for {name}: add `def example_inputs(): return (...)` to the file")
    if callable(example):
        try:
            example = example()
        except Exception as error:
            raise LearnerCrash(f"example_inputs() crashed: {describe(error)}") from error
    inputs = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    return inputs, lookup(fn, module, "reference")


def load(spec):
    """(fn, inputs, reference) named by 'path/to/file.py:Name'; UsageError when they cannot be found."""
    path, module, fn = target_of(spec)
    inputs, reference = inputs_of(fn, module, path, spec.rpartition(":")[2])
    return fn, inputs, reference


def piece_report(fn, module, path, name, seed=0):
    """The Report on one piece: the checker's for a Function, a comparison with handgrad's own otherwise."""
    kind = comparison(fn, module)
    if kind == "optimizer":
        return compare.check_optimizer(fn, seed, label=name)
    if kind == "backprop":
        return compare.check_backprop(fn, seed, label=name)
    inputs, reference = inputs_of(fn, module, path, name)
    differentiate_target = bool(lookup(fn, module, "differentiate_target"))
    return run(plan(fn, inputs, reference=reference, seed=seed, differentiate_target=differentiate_target))


def main(argv=None):
    """Run the command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        path, module, fn = target_of(args.target)
        report = piece_report(fn, module, path, args.target.rpartition(":")[2], args.seed)
    except UsageError as error:
        print(f"handgrad.check: {error}", file=sys.stderr)
        return 2
    except (TypeError, ValueError) as error:  # plan() rejecting fn, inputs or reference
        print(f"handgrad.check: {str(error).removeprefix('check: ')}", file=sys.stderr)
        return 2
    except LearnerCrash as error:
        print(f"handgrad.check: {error}", file=sys.stderr)
        return 1
    print(report)
    return 0 if report else 1
