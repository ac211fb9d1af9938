"""handgrad.check for a novice: the report skips gradgradcheck after a first-order failure and
says why, shows a wrong element's input and upstream gradient, names a mistake that scales
every element by one factor, leaves a cost's target alone unless asked, says what to do about
a None gradient, points a crash at the raising line (never a decorator), and explains its checks.

    .venv/bin/python -m pytest tests/test_check_novice.py
"""
import functools
import inspect
import sys

import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable

import handgrad


def _line_of(marker):
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(i + 1 for i, line in enumerate(lines) if line.endswith(marker))


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Square(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return input * input

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * input  # the 2 of d(x^2)/dx forgotten


class MeanSquare(Function):
    """C = mean((x - t)^2); the backward forgot the mean's 1/numel."""

    @staticmethod
    def forward(input, target):
        return (input - target).square().mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        return 2 * (input - target) * grad_output, None  # None for the target: fine unless asked


def test_gradgradcheck_is_skipped_with_the_reason_after_a_first_order_failure():
    report = handgrad.check(Square, _x(4, 3))
    line = report.line("gradgradcheck")
    assert line.status == "SKIP"
    assert line.summary == "skipped: the first-order gradient is already wrong (gradcheck failed); fix that first"
    assert "PASS  gradgradcheck" not in str(report)


def test_a_wrong_element_shows_its_input_and_upstream_gradient():
    report = handgrad.check(Square, _x(4, 3))
    details = "\n".join(report.line("gradcheck").details)
    assert "at that element: input 0 (input) = " in details
    assert ", upstream gradient grad_output[0, " in details


def test_one_factor_on_every_element_is_named():
    details = "\n".join(handgrad.check(Square, _x(4, 3)).line("gradcheck").details)
    assert "every element is off by the same factor: computed = expected x 0.5 (a factor 2" in details


def test_a_cost_target_is_not_differentiated_unless_asked():
    report = handgrad.check(MeanSquare, (4, 3), (4, 3))
    assert "not differentiated: input 1 (target), a cost's target (data)" in "\n".join(report.header)
    details = "\n".join(report.line("gradcheck").details)
    assert "input 0 (input): wrong at" in details and "input 1" not in details
    assert "a missing 1/N of a mean?" in details  # N the number of elements the mean divides by
    asked = handgrad.check(MeanSquare, (4, 3), (4, 3), differentiate_target=True)
    shapes = "\n".join(asked.line("gradient shapes").details)
    assert "input 1 (target): backward returned None, but it requires grad: return its gradient" in shapes
    assert "ctx.needs_input_grad" in shapes


class Decorated(Function):
    @staticmethod
    @once_differentiable
    def forward(ctx, input):
        return input.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output  # two gradients for one input: torch raises after the return


def _logged(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper


class CrashesUnderADecorator(Square):
    @staticmethod
    @_logged
    def backward(ctx, grad_output):
        raise ValueError("boom")  # decorated-crash-line


def test_a_crash_points_at_the_raising_line_not_a_decorator():
    details = "\n".join(handgrad.check(CrashesUnderADecorator, _x(4, 3)).line("gradcheck").details)
    assert f"ValueError: boom (at tests/test_check_novice.py:{_line_of('# decorated-crash-line')})" in details
    details = "\n".join(handgrad.check(Decorated, _x(4, 3)).line("gradient shapes").details)
    assert "backward returned 2 gradients, forward takes 1 inputs" in details


def test_a_crash_raised_inside_torch_points_at_the_def_of_backward():
    from handgrad.check.target import resolve

    source = resolve(Square).source  # what a crash inside torch points at: the def, not @staticmethod
    assert source.endswith(f"test_check_novice.py:{_line_of('def backward(ctx, grad_output):')})"), source


def test_a_failed_report_explains_its_checks():
    text = str(handgrad.check(Square, _x(4, 3)))
    legend = text.split("what these checks test (all of them: experiments/exercises/README.md):\n")[1]
    assert legend.startswith("  gradcheck          backward's gradients against finite differences")
    assert "  gradgradcheck      the derivative of your backward" in legend
    assert str(handgrad.check(lambda x: x * x, _x(4, 3))).count("what these checks test") == 0
