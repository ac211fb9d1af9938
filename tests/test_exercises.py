"""The exercises in experiments/exercises/: the checker reports each unsolved one as a
failure (not a crash), accepts the reference solution in handgrad/solutions.py, and
rejects the typical wrong answers.

    .venv/bin/python -m pytest tests/test_exercises.py
"""
import os

import pytest
import torch

import handgrad
from handgrad import solutions
from handgrad.check.command import load

EXERCISES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments", "exercises")

# file, Function name in it, reference solution
CASES = [
    ("softplus.py", "Softplus", solutions.SoftplusFunction),
    ("elu.py", "ELU", solutions.ELUFunction),
    ("huber.py", "HuberLoss", solutions.HuberLossFunction),
    ("linear_sigmoid.py", "LinearSigmoid", solutions.LinearSigmoidFunction),
]
IDS = [name for _, name, _ in CASES]
# what the files ask for beyond their inputs (huber.py: differentiate_target = True)
OPTIONS = {"HuberLoss": dict(differentiate_target=True)}


def _exercise(file, name):
    """(Function, inputs, reference) as `python -m handgrad.check` finds them."""
    return load(os.path.join(EXERCISES, f"{file}:{name}"))


def _with_backward(function, backward):
    """function with its backward replaced, as a learner's answer."""
    return type(function.__name__, (function,), {"backward": staticmethod(backward)})


@pytest.mark.parametrize("file, name, solution", CASES, ids=IDS)
def test_unsolved_exercise_is_a_reported_failure(file, name, solution):
    function, inputs, reference = _exercise(file, name)
    report = handgrad.check(function, *inputs, reference=reference, **OPTIONS.get(name, {}))
    assert not report
    line = report.line("gradcheck")
    assert line.status == "FAIL"
    assert "NotImplementedError: write the backward (at " in "\n".join(line.details)
    assert f"{file}:" in "\n".join(line.details)
    assert report.line("reference forward").status == "PASS"  # the forward given to the learner is right


@pytest.mark.parametrize("file, name, solution", CASES, ids=IDS)
def test_reference_solution_passes(file, name, solution):
    _, inputs, reference = _exercise(file, name)
    report = handgrad.check(solution, *inputs, reference=reference, **OPTIONS.get(name, {}))
    assert report, str(report)
    assert report.line("vmap").status == "PASS"


@pytest.mark.parametrize("file, name, solution", CASES, ids=IDS)
def test_solution_backward_fits_the_exercise(file, name, solution):
    """The solution's backward reads what the exercise's setup_context saves."""
    function, inputs, reference = _exercise(file, name)
    report = handgrad.check(_with_backward(function, solution.backward), *inputs, reference=reference, **OPTIONS.get(name, {}))
    assert report, str(report)


@pytest.mark.parametrize("file, name, solution", CASES, ids=IDS)
def test_exercise_docstring_names_its_command(file, name, solution):
    function, _, _ = _exercise(file, name)
    with open(os.path.join(EXERCISES, file)) as f:
        assert f"python -m handgrad.check experiments/exercises/{file}:{name}" in f.read()


# typical wrong answers: the file, the Function, the wrong backward, the check and input it must blame

def softplus_forgot_grad_output(ctx, grad_output):
    (input,) = ctx.saved_tensors
    return torch.sigmoid(input)


def softplus_exp_not_sigmoid(ctx, grad_output):
    (input,) = ctx.saved_tensors
    return grad_output * torch.exp(input)


def elu_forgot_alpha(ctx, grad_output):
    input, output = ctx.saved_tensors
    return grad_output * torch.where(input > 0, torch.ones_like(output), output), None  # y, not y + alpha


def huber_forgot_the_mean(ctx, grad_output):
    input, target = ctx.saved_tensors
    slope = (input - target).clamp(-ctx.delta, ctx.delta) * grad_output
    return slope, -slope, None


def huber_target_sign(ctx, grad_output):
    input, target = ctx.saved_tensors
    slope = (input - target).clamp(-ctx.delta, ctx.delta) * grad_output / input.numel()
    return slope, slope, None


def huber_no_clamp(ctx, grad_output):
    input, target = ctx.saved_tensors
    slope = (input - target) * grad_output / input.numel()  # the quadratic branch everywhere
    return slope, -slope, None


def linear_sigmoid_no_sigmoid_derivative(ctx, grad_output):
    input, weight, output = ctx.saved_tensors
    return grad_output @ weight, grad_output.T @ input, grad_output.sum(0)


def linear_sigmoid_bias_not_summed(ctx, grad_output):
    input, weight, output = ctx.saved_tensors
    grad_pre = grad_output * output * (1 - output)
    return grad_pre @ weight, grad_pre.T @ input, grad_pre


WRONG = [
    ("softplus.py", "Softplus", softplus_forgot_grad_output, "gradcheck", "input 0 (input): wrong at"),
    ("softplus.py", "Softplus", softplus_exp_not_sigmoid, "gradcheck", "input 0 (input): wrong at"),
    ("elu.py", "ELU", elu_forgot_alpha, "gradcheck", "input 0 (input): wrong at"),
    ("huber.py", "HuberLoss", huber_forgot_the_mean, "gradcheck", "input 0 (input): wrong at"),
    ("huber.py", "HuberLoss", huber_target_sign, "gradcheck", "input 1 (target): wrong at"),
    ("huber.py", "HuberLoss", huber_no_clamp, "gradcheck", "input 0 (input): wrong at"),
    ("linear_sigmoid.py", "LinearSigmoid", linear_sigmoid_no_sigmoid_derivative, "gradcheck",
     "input 0 (input): wrong at"),
    ("linear_sigmoid.py", "LinearSigmoid", linear_sigmoid_bias_not_summed, "gradient shapes",
     "input 2 (bias): backward returned shape (1, 3), expected (3,)"),
]


@pytest.mark.parametrize("file, name, backward, check, words", WRONG, ids=[w[2].__name__ for w in WRONG])
def test_typical_wrong_answers_fail(file, name, backward, check, words):
    function, inputs, reference = _exercise(file, name)
    report = handgrad.check(_with_backward(function, backward), *inputs, reference=reference, **OPTIONS.get(name, {}))
    assert not report
    line = report.line(check)
    assert line.status == "FAIL", str(report)
    assert words in "\n".join(line.details), str(report)
    if check == "gradcheck":  # a wrong value disagrees with torch too (a wrong shape autograd sums away)
        assert report.line("reference grads").status == "FAIL"
