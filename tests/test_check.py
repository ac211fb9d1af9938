"""handgrad.check passes every correct backward and fails each wrong one with a report
that names the input, the worst element, the expected and the computed value.

    python -m pytest tests/test_check.py
"""
import importlib
import inspect
import os
import subprocess
import sys

import pytest
import torch
from torch.autograd import Function

import handgrad
from catalogue import CASES
from handgrad.check.command import main
from handgrad.solutions import SoftplusFunction
from strategies import Shape

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = Shape(batch=3, features=4, out_features=2, lead=(2,), contiguous=True, seed=0)


def _line_of(marker):
    """Line number in this file of the line ending with marker."""
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(i + 1 for i, line in enumerate(lines) if line.endswith(marker))


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- Functions to check: a right one, and the usual wrong ones ----------------------------------

class Linear(Function):
    """y = x W^T + b, with the right backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, weight, bias):
        return input @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output.sum(0)


class TransposedWeightGrad(Linear):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, input.T @ grad_output, grad_output.sum(0)  # (in, out), not (out, in)


class BiasNotSummed(Linear):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output  # (N, out), not (out,)


class BiasAveraged(Linear):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output.mean(0)


class SignError(Linear):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return -grad_output @ weight, grad_output.T @ input, grad_output.sum(0)


class NoneForWeight(Linear):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, None, grad_output.sum(0)


class Sigmoid(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return grad_output * output * (1 - output)


class ForgotGradOutput(Sigmoid):
    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return output * (1 - output)


class RightAtZeroOnly(SoftplusFunction):
    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 0.5  # sigmoid(0): right at x = 0, wrong anywhere else


FIXED_POINT = _x(4, 3, seed=11)


class RightAtOnePoint(SoftplusFunction):
    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * torch.sigmoid(FIXED_POINT)  # the derivative at FIXED_POINT, whatever the input


class Crashes(Sigmoid):
    @staticmethod
    def backward(ctx, grad_output):
        raise IndexError("boom")  # crash-line


class NoVmapRule(Sigmoid):
    generate_vmap_rule = False


class OldStyle(Function):
    """forward(ctx, ...) without setup_context: fine for autograd, not for torch.func."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input * input

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return 2 * input * grad_output


class WrongVmapRule(Sigmoid):
    generate_vmap_rule = False

    @staticmethod
    def vmap(info, in_dims, input):
        return torch.sigmoid(input) * 2, in_dims[0]  # twice what forward gives


class Float32Gradient(Sigmoid):
    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return (grad_output * output * (1 - output)).float()


def linear_inputs(out_features=4, in_features=5, batch=6):
    return _x(batch, in_features, seed=1), _x(out_features, in_features, seed=2), _x(out_features, seed=3)


# --- 1. it passes every handgrad op and the right Functions --------------------------------------

@pytest.mark.parametrize("case", CASES, ids=repr)
def test_passes_every_catalogue_op(case):
    """One shape per case; derived sets the op rejects (e.g. batch sizes for a 1-d input) are skipped and reported."""
    fn, reference = case.handgrad, case.torch
    if case.name.startswith("batch_norm[train"):
        # training updates the running statistics in place; vmap may only mutate its own tensors
        fn = _with_fresh_running_stats(case.handgrad)
        reference = _with_fresh_running_stats(case.torch)
    inputs = case.make(SHAPE, torch.float64)
    report = handgrad.check(fn, *inputs, reference=reference)
    assert report, str(report)
    assert report.line("gradcheck").summary.startswith("given, ")
    if any(isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[-1] > 1 for t in inputs):
        assert "non-contiguous" in report.line("gradcheck").summary  # (no strided view of 1x1x1 inputs)


def _with_fresh_running_stats(fn):
    def run(input, running_mean, running_var, *rest):
        fresh = [None if t is None else t.clone() for t in (running_mean, running_var)]
        return fn(input, *fresh, *rest)
    return run


def test_passes_a_right_function_and_prints_every_check():
    report = handgrad.check(Linear, *linear_inputs(), reference=torch.nn.functional.linear)
    assert report, str(report)
    text = str(report)
    for check in ("forward", "gradient shapes", "gradcheck", "gradgradcheck", "reference forward",
                  "reference grads", "vmap"):
        assert f"PASS  {check}" in text
    assert "batch 1" in text and "batch 8" in text and "non-contiguous" in text
    assert "seed 0" in text
    assert text.endswith("passed: 7 checks")


def test_accepts_apply_a_plain_function_and_shapes():
    assert handgrad.check(Sigmoid.apply, _x(3, 2))
    assert handgrad.check(lambda x: Sigmoid.apply(x) * 2, (3, 2), reference=lambda x: 2 * torch.sigmoid(x))


def test_float32_inputs_are_checked_in_float64():
    report = handgrad.check(Sigmoid, _x(3, 2).float(), reference=torch.sigmoid)
    assert report, str(report)


# --- 2. each usual mistake fails, naming the input, the expected and the computed value ----------

def _details(report, check):
    line = report.line(check)
    assert line.status == "FAIL", str(report)
    return "\n".join(line.details)


def test_forgot_grad_output():
    report = handgrad.check(ForgotGradOutput, _x(4, 3))
    assert not report
    details = _details(report, "gradcheck")
    assert "input 0 (input): wrong at [" in details
    assert "expected" in details and "computed" in details


def test_transposed_weight_gradient_square_weight():
    report = handgrad.check(TransposedWeightGrad, *linear_inputs(out_features=5, in_features=5))
    assert not report
    details = _details(report, "gradcheck")
    assert "input 1 (weight): wrong at [" in details and "expected" in details and "computed" in details
    assert "input 0" not in details and "input 2" not in details


def test_transposed_weight_gradient_wrong_shape():
    report = handgrad.check(TransposedWeightGrad, *linear_inputs(out_features=4, in_features=5))
    assert not report
    assert "input 1 (weight): backward returned shape (5, 4), expected (4, 5)" in _details(report, "gradient shapes")
    assert "invalid gradient at index 1" in _details(report, "gradcheck")  # torch's own error, not hidden


def test_bias_gradient_not_summed_over_the_batch():
    """Autograd silently sums a (N, out) bias gradient, so only the returned shape shows the mistake."""
    report = handgrad.check(BiasNotSummed, *linear_inputs())
    assert not report
    details = _details(report, "gradient shapes")
    assert "input 2 (bias): backward returned shape (1, 4), expected (4,)" in details  # on batch 1
    assert "sum it over the batch" in details


def test_bias_gradient_averaged_instead_of_summed():
    report = handgrad.check(BiasAveraged, *linear_inputs())
    assert not report
    details = _details(report, "gradcheck")
    assert "input 2 (bias): wrong at [" in details and "expected" in details and "computed" in details


def test_sign_error():
    report = handgrad.check(SignError, *linear_inputs())
    details = _details(report, "gradcheck")
    assert "input 0 (input): wrong at [" in details
    assert "input 1" not in details
    # the worst element's values are the same size with opposite signs
    expected, computed = details.split("expected ")[1].split(", computed ")
    assert float(expected) == pytest.approx(-float(computed.split(" ")[0]), rel=1e-4)


def test_none_for_an_input_that_needs_a_gradient():
    report = handgrad.check(NoneForWeight, *linear_inputs())
    assert not report
    assert "input 1 (weight): backward returned None, but it requires grad" in _details(report, "gradient shapes")
    details = _details(report, "gradcheck")
    assert "input 1 (weight): wrong at [" in details and "computed 0" in details


def test_the_explanation_handles_a_transposed_input():
    """Details come from the smallest failing set, so call the explanation on a transposed input directly."""
    from handgrad.check.jacobian import explain
    from handgrad.check.target import resolve

    target = resolve(ForgotGradOutput)
    input = _x(3, 4).T.requires_grad_()
    lines = explain(target, target.call, [input], [0], [_x(4, 3, seed=5)], torch.Generator(), 1e-5, 1e-3)
    assert lines and lines[0].startswith("input 0 (input): wrong at [")


def test_small_inputs_show_both_jacobians():
    report = handgrad.check(ForgotGradOutput, _x(1, 3))
    details = _details(report, "gradcheck")
    assert "numerical (finite differences)" in details and "analytical (your backward)" in details


def test_disagreeing_with_the_reference_names_the_input():
    report = handgrad.check(Sigmoid, _x(4, 3), reference=lambda x: torch.sigmoid(2 * x))
    assert not report
    assert "output 0: wrong at [" in _details(report, "reference forward")
    assert "input 0 (input): wrong at [" in _details(report, "reference grads")


# --- 3. right at one point is not right -----------------------------------------------------------

def test_right_at_zero_only_fails_on_the_extra_inputs():
    report = handgrad.check(RightAtZeroOnly, torch.zeros(4, 3))
    assert not report
    line = report.line("gradcheck")
    assert "given" not in line.summary  # at x = 0 it is right ...
    assert "batch 1" in line.summary  # ... but not on the inputs drawn from the seed
    assert "input 0 (input): wrong at [" in "\n".join(line.details)
    assert "seed 0" in str(report)


def test_right_for_one_input_value_only_fails():
    report = handgrad.check(RightAtOnePoint, FIXED_POINT)
    assert not report
    assert "given" not in report.line("gradcheck").summary
    assert "non-contiguous" in report.line("gradcheck").summary


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_seed_is_printed_and_reproduces_the_report(seed):
    first = str(handgrad.check(RightAtZeroOnly, (4, 3), seed=seed))
    assert f"seed {seed}" in first
    assert first == str(handgrad.check(RightAtZeroOnly, (4, 3), seed=seed))
    assert "FAIL  gradcheck" in first


# --- exceptions are reported, never hidden or raised -----------------------------------------------

def test_a_crashing_backward_is_reported_with_its_file_and_line():
    report = handgrad.check(Crashes, _x(4, 3))
    assert not report
    details = _details(report, "gradcheck")
    assert f"IndexError: boom (at tests/test_check.py:{_line_of('# crash-line')})" in details
    assert isinstance(report.line("gradcheck").error, IndexError)


def test_a_crashing_forward_is_reported():
    def forward_crashes(x):
        return x[10]  # forward-crash-line

    report = handgrad.check(forward_crashes, _x(4, 3))
    assert not report
    assert f"test_check.py:{_line_of('# forward-crash-line')}" in _details(report, "forward")


def test_a_function_without_a_vmap_rule_is_not_supported_not_failed():
    report = handgrad.check(NoVmapRule, _x(4, 3))
    assert report, str(report)
    line = report.line("vmap")
    assert line.status == "SKIP" and "not supported" in line.summary and "generate_vmap_rule" in line.summary


def test_a_wrong_vmap_rule_fails():
    report = handgrad.check(WrongVmapRule, _x(4, 3))
    assert not report
    details = _details(report, "vmap")
    assert "vmap disagrees with a loop over the samples" in details and "output 0: wrong at [" in details


def test_a_gradient_of_the_wrong_dtype_fails():
    """Autograd casts a float32 gradient back to float64 silently; only the returned dtype shows it."""
    report = handgrad.check(Float32Gradient, _x(4, 3))
    assert not report
    assert "input 0 (input): backward returned dtype torch.float32, expected torch.float64" in _details(
        report, "gradient shapes")


def test_inputs_without_a_batch_dimension_skip_the_batch_sets_and_say_why():
    report = handgrad.check(Sigmoid, torch.tensor(0.3, dtype=torch.float64))
    assert report, str(report)
    assert "skipped batch 1, larger batch: no input has a leading batch dimension" in str(report)
    assert report.line("gradcheck").summary == "given, new values"


def test_an_old_style_function_is_checked_and_vmap_not_supported():
    report = handgrad.check(OldStyle, _x(4, 3))
    assert report, str(report)
    assert "setup_context" in report.line("vmap").summary


# --- 4. bad arguments get a clear error -------------------------------------------------------------

@pytest.mark.parametrize("fn, inputs, error, words", [
    (42, (_x(2),), TypeError, "fn must be a torch.autograd.Function (the class or its .apply) or a function of tensors, got int 42"),
    (torch.nn.Linear, (_x(2),), TypeError, "got the class Linear"),
    (Sigmoid, ([1.0, 2.0],), TypeError, "input 0 must be a tensor, a shape (a tuple of ints) or a constant"),
    (Sigmoid, (_x(2), object()), TypeError, "input 1 must be a tensor"),
    (Sigmoid, (), ValueError, "no inputs"),
    (Sigmoid, (torch.tensor([1, 2]),), ValueError, "no input is a floating-point tensor"),
    (Sigmoid, (torch.zeros(2, device="meta"),), ValueError, "input 0 is on meta; the checker runs on the CPU"),
])
def test_bad_arguments_raise_a_clear_error(fn, inputs, error, words):
    with pytest.raises(error) as raised:
        handgrad.check(fn, *inputs)
    assert words in str(raised.value)


def test_bad_options_raise_a_clear_error():
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        handgrad.check(Sigmoid, _x(2), seed="0")
    with pytest.raises(TypeError, match="reference must be a function"):
        handgrad.check(Sigmoid, _x(2), reference=3)


# --- the package is both a callable and a module ------------------------------------------------------

def test_handgrad_check_is_callable_and_still_the_module():
    import handgrad.check as module
    from handgrad import check as from_package
    from handgrad.check import Report, check as function

    assert module is handgrad.check is from_package is importlib.import_module("handgrad.check")
    assert inspect.isfunction(function) and module.check is function
    assert isinstance(handgrad.check(Sigmoid, (3,)), Report)
    assert "check" in handgrad.__all__


# --- the command -------------------------------------------------------------------------------------

GOOD_FILE = """
import torch
from handgrad.solutions import SoftplusFunction as Softplus

def example_inputs():
    return ((4, 3),)

reference = torch.nn.functional.softplus
"""


def _write(tmp_path, text, name="learner.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run_main(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_command_passes_a_right_function(tmp_path, capsys):
    status, out, err = _run_main(capsys, _write(tmp_path, GOOD_FILE) + ":Softplus", "--seed", "3")
    assert status == 0, out + err
    assert "seed 3" in out and "passed" in out


def test_command_fails_an_exercise_with_a_report(capsys):
    status, out, _ = _run_main(capsys, os.path.join(REPO, "experiments/exercises/elu.py") + ":ELU")
    assert status == 1
    assert "NotImplementedError: write the backward (at " in out and "elu.py:" in out


@pytest.mark.parametrize("text, target, words", [
    (None, "no/such/file.py:Softplus", "no such file: no/such/file.py"),
    (GOOD_FILE, "{path}:Missing", "has no 'Missing'; it defines: example_inputs"),
    (GOOD_FILE, "{path}", "expected path/to/file.py:Name"),
    ("THREE = 3\nexample_inputs = ((2,),)\n", "{path}:THREE", "fn must be a torch.autograd.Function"),
    ("from handgrad.solutions import SoftplusFunction as F\n", "{path}:F", "gives no inputs for F"),
    ("from handgrad.solutions import SoftplusFunction as F\ndef example_inputs():\n    return ([1, 2],)\n",
     "{path}:F", "input 0 must be a tensor"),
])
def test_command_usage_errors_exit_2_with_one_line(tmp_path, capsys, text, target, words):
    path = _write(tmp_path, text) if text is not None else ""
    status, out, err = _run_main(capsys, target.format(path=path))
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("handgrad.check: ")
    assert words in err


def test_command_unknown_option_exits_2_with_one_line(capsys):
    status, _, err = _run_main(capsys, "x.py:F", "--nope")
    assert status == 2 and len(err.strip().splitlines()) == 1


def test_command_reports_a_file_that_crashes_on_import(tmp_path, capsys):
    path = _write(tmp_path, "import torch\n\nx = 1 / 0\n")
    status, _, err = _run_main(capsys, path + ":F")
    assert status == 1
    assert "ZeroDivisionError" in err and "learner.py:3" in err


def _python_m(*args):
    return subprocess.run([sys.executable, "-m", "handgrad.check", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_python_m_handgrad_check_runs():
    ok = _python_m("experiments/exercises/softplus.py:Softplus")
    assert ok.returncode == 1, ok.stderr
    assert "NotImplementedError: write the backward (at experiments/exercises/softplus.py:" in ok.stdout
    assert "Traceback" not in ok.stdout + ok.stderr
    usage = _python_m("experiments/exercises/softplus.py:Nope")
    assert usage.returncode == 2
    assert usage.stdout == "" and len(usage.stderr.strip().splitlines()) == 1
