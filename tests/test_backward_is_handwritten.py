"""No backward in handgrad/ calls back into autograd: a scan of the source, and a check at run time."""
import ast
import io
import pathlib
import re
import tokenize

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import handgrad

FORBIDDEN_PREFIXES = ("torch.autograd", "torch.func", "functorch", "torch.ops.aten")


def call_name(node):
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts)), parts


def calls_in_backward(tree):
    """(line, dotted name, last name) of every call inside a function named backward, or inside a
    function of the same file that one calls."""
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    to_visit = [node for node in functions.values() if node.name == "backward"]
    seen, found = set(), []
    while to_visit:
        function = to_visit.pop()
        if function.name in seen:
            continue
        seen.add(function.name)
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                name, parts = call_name(node)
                found.append((node.lineno, name, parts[0] if parts else ""))
                if name in functions:
                    to_visit.append(functions[name])
    return found


def forbidden_calls(tree):
    """(line, name) of every autograd call inside a backward, or called by one in the same file."""
    return [(line, name) for line, name, last in calls_in_backward(tree)
            if name.startswith(FORBIDDEN_PREFIXES) or last == "backward" or last.endswith("_backward")]


def inplace_calls(tree):
    """(line, name) of every in-place method call (``mul_``, ``scatter_add_`` ...) inside a backward."""
    return [(line, name) for line, name, last in calls_in_backward(tree)
            if last.endswith("_") and not last.endswith("__")]


SOURCES = sorted(pathlib.Path(handgrad.__file__).parent.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_backward_calls_autograd(path):
    assert forbidden_calls(ast.parse(path.read_text())) == []


FUNCTIONAL = sorted((pathlib.Path(handgrad.__file__).parent / "functional").glob("*.py"))


@pytest.mark.parametrize("path", FUNCTIONAL, ids=lambda p: p.name)
def test_no_reference_backward_calls_an_inplace_method(path):
    """The reference tier reads as math: out-of-place ops, and augmented assignment (``grad *= g``)
    on tensors the backward itself created; no chains of ``.mul_().sub_()``."""
    assert inplace_calls(ast.parse(path.read_text())) == []


def test_the_inplace_scan_catches_a_chain():
    source = ("class F:\n    def backward(ctx, g):\n        grad = g * 2\n        grad *= g\n"
              "        return helper(grad)\ndef helper(t):\n    return t.exp().mul_(2).sub_(1)\n")
    assert sorted(name for _, name in inplace_calls(ast.parse(source))) == ["mul_", "sub_"]


TIMING = re.compile(r"\d\s*(us|µs|ns|ms|microseconds?|milliseconds?|nanoseconds?)\b|\d\s*(x|times) (faster|slower)",
                    re.IGNORECASE)


def comments_and_docstrings(source):
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(token.start[0], token.string) for token in tokens if token.type in (tokenize.COMMENT, tokenize.STRING)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_comment_states_a_timing(path):
    """Numbers from one machine belong to benchmarks and their results files."""
    assert [(line, text) for line, text in comments_and_docstrings(path.read_text()) if TIMING.search(text)] == []


def test_the_timing_scan_catches_one():
    assert TIMING.search("# took 114 us instead of 201 us") and TIMING.search('"""some 15x slower"""')
    assert not TIMING.search("# 2 (x - t), times the factor")


def test_the_scan_catches_a_forbidden_call():
    source = "class F:\n    def backward(ctx, g):\n        return torch.autograd.grad(g, ctx.x)\n"
    bad = "def backward(ctx, g):\n    return helper(g)\ndef helper(g):\n    return torch.ops.aten.threshold_backward(g)\n"
    assert forbidden_calls(ast.parse(source)) == [(3, "torch.autograd.grad")]
    assert forbidden_calls(ast.parse(bad))[0][1] == "torch.ops.aten.threshold_backward"


# ---------------------------------------------------------------------------
# The same promise checked at run time, where no import alias can hide a call: every catalogue
# op's backward runs under a dispatch mode that sees each aten op it runs.
# ---------------------------------------------------------------------------


class TorchDerivativeCalled(AssertionError):
    pass


class NoTorchDerivatives(TorchDispatchMode):
    """Sees every aten op a backward runs and fails on

    - one of torch's own derivative kernels: each has 'backward' in its name (sigmoid_backward,
      threshold_backward, _softmax_backward_data, convolution_backward, nll_loss_backward ...);
    - an op run with grad mode on: a first-order backward runs with grad mode off, so such an
      op records a graph for autograd's engine to differentiate (torch.autograd.grad,
      .backward() or torch.func inside the backward)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "backward" in func.name():
            raise TorchDerivativeCalled(f"{func.name()} ran inside a hand-written backward")
        if torch.is_grad_enabled():
            raise TorchDerivativeCalled(
                f"{func.name()} ran with grad mode on inside a hand-written backward, recording a graph for autograd"
            )
        return func(*args, **(kwargs or {}))


def run_backward_under_the_mode(function, args):
    """Forward as usual; the backward of every differentiable input under the mode."""
    out = function(*args)
    inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    upstream = torch.ones_like(out)
    with NoTorchDerivatives():
        return torch.autograd.grad(out, inputs, upstream, allow_unused=True)


def test_every_catalogue_backward_runs_only_hand_written_ops():
    from catalogue import CASES
    from strategies import DEFAULT

    for case in CASES:
        args = case.make(DEFAULT, torch.float64)
        try:
            grads = run_backward_under_the_mode(case.handgrad, args)
        except TorchDerivativeCalled as error:
            raise TorchDerivativeCalled(f"{case.name}: {error}") from None
        assert any(grad is not None for grad in grads), case.name


class TorchSigmoidDerivative(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        kernel = getattr(torch.ops.aten, "sigmoid" + "_backward")  # hidden from the source scan
        return kernel(grad_output, output)


class AutogradInsideBackward(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return input * input

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = input.detach().requires_grad_()
            grad = getattr(torch, "autograd").grad((leaf * leaf).sum(), leaf)[0]  # hidden from the source scan
        return grad_output * grad


@pytest.mark.parametrize("function, message", [
    (TorchSigmoidDerivative.apply, "aten::sigmoid_backward ran inside a hand-written backward"),
    (AutogradInsideBackward.apply, "ran with grad mode on inside a hand-written backward"),
])
def test_the_mode_catches_a_backward_that_uses_torchs_derivatives(function, message):
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TorchDerivativeCalled, match=message):
        run_backward_under_the_mode(function, (x,))
