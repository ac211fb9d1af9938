"""The core exercises in experiments/exercises/ (the dense layer, sigmoid, ReLU, softmax, the four
costs, backpropagation through the stack and the update rule), through the checker's command:
unchanged, each exits 1 naming the NotImplementedError's file and line; with its reference
solution (handgrad/solutions.py) it exits 0; with each typical mistake that applies it exits 1
and the report names the wrong input.

    .venv/bin/python -m pytest tests/test_core_exercises.py
"""
import importlib.util
import os

import pytest
import torch

from handgrad import solutions
from handgrad.check.command import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXERCISES = os.path.join(REPO, "experiments", "exercises")


# file, name in it, reference solution
FUNCTIONS = [
    ("linear.py", "Linear", solutions.LinearFunction),
    ("sigmoid.py", "Sigmoid", solutions.SigmoidFunction),
    ("relu.py", "ReLU", solutions.ReLUFunction),
    ("softmax.py", "Softmax", solutions.SoftmaxFunction),
    ("quadratic_cost.py", "QuadraticCost", solutions.QuadraticCostFunction),
    ("cross_entropy.py", "CrossEntropy", solutions.CrossEntropyFunction),
    ("binary_cross_entropy.py", "BinaryCrossEntropy", solutions.BinaryCrossEntropyFunction),
    ("log_loss.py", "NLLLoss", solutions.NLLLossFunction),
]
PIECES = FUNCTIONS + [
    ("backprop.py", "backprop", solutions.backprop),
    ("gradient_descent.py", "GradientDescent", solutions.GradientDescent),
]


def _raise_line(file):
    with open(os.path.join(EXERCISES, file)) as f:
        return next(i + 1 for i, line in enumerate(f) if "raise NotImplementedError" in line)


def _command(capsys, path, name):
    status = main([f"{path}:{name}"])
    out, err = capsys.readouterr()
    return status, out, err


def _answer_file(tmp_path, file, name, body):
    """A learner's answer: a file beside nothing, subclassing the exercise with body in place of the backward."""
    module = os.path.splitext(file)[0]
    path = tmp_path / f"answer_{module}.py"
    path.write_text(f"import sys\nsys.path.insert(0, {EXERCISES!r})\nimport torch\nimport {module}\n\n" + body.format(
        module=module, name=name))
    return str(path)


@pytest.mark.parametrize("file, name, solution", PIECES, ids=[p[1] for p in PIECES])
def test_unchanged_exercise_exits_1_naming_the_file_and_line(capsys, file, name, solution):
    status, out, err = _command(capsys, f"experiments/exercises/{file}", name)
    assert status == 1, out + err
    assert f"NotImplementedError: write " in out
    assert f"(at experiments/exercises/{file}:{_raise_line(file)})" in out, out


@pytest.mark.parametrize("file, name, solution", FUNCTIONS, ids=[p[1] for p in FUNCTIONS])
def test_reference_solution_exits_0(capsys, tmp_path, file, name, solution):
    body = ("class {name}({module}.{name}):\n"
            "    backward = staticmethod(__import__('handgrad.solutions', fromlist=['x']).%s.backward)\n"
            % solution.__name__)
    status, out, err = _command(capsys, _answer_file(tmp_path, file, name, body), name)
    assert status == 0, out + err
    assert "SKIP  gradgradcheck" not in out and "PASS  vmap" in out, out


def test_backprop_and_update_rule_solutions_exit_0(capsys, tmp_path):
    path = tmp_path / "answers.py"
    path.write_text(f"import sys\nsys.path.insert(0, {EXERCISES!r})\nimport gradient_descent\n"
                    "from handgrad import solutions\n\ncheck_as = 'backprop'\nbackprop = solutions.backprop\n\n"
                    "class GradientDescent(gradient_descent.GradientDescent):\n"
                    "    step = solutions.GradientDescent.step\n")
    for name in ("backprop", "GradientDescent"):
        status, out, err = _command(capsys, str(path), name)
        assert status == 0, out + err
        assert "passed:" in out


# --- typical mistakes: (file, name, backward body, the words the report must hold) ------------

FORGOT_GRAD_OUTPUT = "forgot grad_output"
MISTAKES = [
    ("linear.py", "Linear", FORGOT_GRAD_OUTPUT, """
        input, weight = ctx.saved_tensors
        ones = torch.ones(input.shape[0], weight.shape[0], dtype=input.dtype)
        return ones @ weight, ones.T @ input, ones.sum(0)""", "input 0 (input): wrong at"),
    ("linear.py", "Linear", "sign error", """
        input, weight = ctx.saved_tensors
        return -(grad_output @ weight), grad_output.T @ input, grad_output.sum(0)""",
     "input 0 (input): wrong at", "(a sign error)"),
    ("linear.py", "Linear", "unsummed bias", """
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output""",
     "input 2 (bias): backward returned shape (1, 3), expected (3,)"),
    ("linear.py", "Linear", "transposed weight gradient", """
        input, weight = ctx.saved_tensors
        return grad_output @ weight, input.T @ grad_output, grad_output.sum(0)""",
     "input 1 (weight): backward returned shape (5, 3), expected (3, 5)"),
    ("sigmoid.py", "Sigmoid", FORGOT_GRAD_OUTPUT, """
        (output,) = ctx.saved_tensors
        return output * (1 - output)""", "input 0 (input): wrong at", "upstream gradient grad_output["),
    ("sigmoid.py", "Sigmoid", "sign error", """
        (output,) = ctx.saved_tensors
        return -grad_output * output * (1 - output)""", "input 0 (input): wrong at", "(a sign error)"),
    ("relu.py", "ReLU", FORGOT_GRAD_OUTPUT, """
        (input,) = ctx.saved_tensors
        return (input > 0).to(input.dtype)""", "input 0 (input): wrong at"),
    ("relu.py", "ReLU", "sign error", """
        (input,) = ctx.saved_tensors
        return -grad_output * (input > 0).to(input.dtype)""", "input 0 (input): wrong at", "(a sign error)"),
    ("softmax.py", "Softmax", "missing cross term", """
        (output,) = ctx.saved_tensors
        return grad_output * output * (1 - output)""", "input 0 (input): wrong at"),
    ("softmax.py", "Softmax", FORGOT_GRAD_OUTPUT, """
        (output,) = ctx.saved_tensors
        return output * (1 - output)""", "input 0 (input): wrong at"),
]
for file, name in (("quadratic_cost.py", "QuadraticCost"), ("binary_cross_entropy.py", "BinaryCrossEntropy"),
                   ("cross_entropy.py", "CrossEntropy"), ("log_loss.py", "NLLLoss")):
    slope = {
        "QuadraticCost": "(input - target)",
        "BinaryCrossEntropy": "(input - target) / (input * (1 - input))",
        "CrossEntropy": "(torch.softmax(input, 1) - torch.nn.functional.one_hot(target, input.shape[1]).to(input.dtype))",
        "NLLLoss": "-torch.nn.functional.one_hot(target, input.shape[1]).to(input.dtype)",
    }[name]
    head = "\n        input, target = ctx.saved_tensors\n        slope = " + slope
    MISTAKES += [
        (file, name, FORGOT_GRAD_OUTPUT, head + "\n        return slope / input.shape[0], None",
         "input 0 (input): wrong at", "multiply by it"),
        (file, name, "missing 1/N", head + "\n        return slope * grad_output, None",
         "input 0 (input): wrong at", "a missing 1/N"),
        (file, name, "sign error", head + "\n        return -slope * grad_output / input.shape[0], None",
         "input 0 (input): wrong at", "(a sign error)"),
    ]


MISTAKES = [(m[0], m[1], m[2], m[3], m[4:]) for m in MISTAKES]  # the last items: words the report holds


@pytest.mark.parametrize("file, name, mistake, body, words", MISTAKES,
                         ids=[f"{m[1]}-{m[2].replace(' ', '_')}" for m in MISTAKES])
def test_typical_mistake_exits_1_naming_the_input(capsys, tmp_path, file, name, mistake, body, words):
    answer = ("class {name}({module}.{name}):\n    @staticmethod\n    def backward(ctx, grad_output):"
              + body.replace("{", "{{").replace("}", "}}") + "\n")
    status, out, err = _command(capsys, _answer_file(tmp_path, file, name, answer), name)
    assert status == 1, out + err
    for word in words:
        assert word in out, out
    assert "SKIP  gradgradcheck      skipped: the first-order gradient is already wrong" in out


BACKPROP_MISTAKES = [
    ("unsummed bias", "grads[layer] = (delta.T @ below, delta)",
     "layer 2 bias: returned shape (6, 3), expected (3,): one row per sample; sum it over the batch"),
    ("transposed weight gradient", "grads[layer] = (below.T @ delta, delta.sum(0))",
     "layer 2 weight: returned shape (4, 3), expected (3, 4): transposed"),
    ("sign error", "grads[layer] = (-(delta.T @ below), -delta.sum(0))", "(a sign error)"),
]


@pytest.mark.parametrize("mistake, line, words", BACKPROP_MISTAKES, ids=[m[0] for m in BACKPROP_MISTAKES])
def test_backprop_mistake_exits_1_naming_the_layer(capsys, tmp_path, mistake, line, words):
    path = tmp_path / "my_backprop.py"
    path.write_text(
        "check_as = 'backprop'\n\n\ndef backprop(grad_output, activations, weights):\n"
        "    grads = [None] * len(weights)\n    delta = grad_output\n"
        "    for layer in reversed(range(len(weights))):\n        below = activations[layer]\n"
        f"        {line}\n"
        "        delta = (delta @ weights[layer]) * below * (1 - below)\n    return grads\n")
    status, out, err = _command(capsys, str(path), "backprop")
    assert status == 1, out + err
    assert words in out, out


UPDATE_MISTAKES = [
    ("sign error", "param.add_(group['lr'] * param.grad)", "(a sign error"),
    ("forgot the learning rate", "param.sub_(param.grad)", "multiply the gradient by the group's learning rate"),
    ("one lr for every group", "param.sub_(0.1 * param.grad)", "after step 1, parameter 2 (2, 2): wrong at"),
]


@pytest.mark.parametrize("mistake, line, words", UPDATE_MISTAKES, ids=[m[0] for m in UPDATE_MISTAKES])
def test_update_rule_mistake_exits_1_naming_the_parameter(capsys, tmp_path, mistake, line, words):
    path = tmp_path / "my_descent.py"
    path.write_text(
        "import torch\n\n\nclass GradientDescent(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=0.1):\n        super().__init__(params, dict(lr=lr))\n\n"
        "    def step(self, closure=None):\n        with torch.no_grad():\n"
        "            for group in self.param_groups:\n                for param in group['params']:\n"
        "                    if param.grad is not None:\n"
        f"                        {line}\n")
    status, out, err = _command(capsys, str(path), "GradientDescent")
    assert status == 1, out + err
    assert words in out, out


@pytest.mark.parametrize("file, name, solution", PIECES, ids=[p[1] for p in PIECES])
def test_exercise_docstring_names_its_command(file, name, solution):
    with open(os.path.join(EXERCISES, file)) as f:
        assert f"python -m handgrad.check experiments/exercises/{file}:{name}" in f.read()


def test_the_exercise_backprop_forward_matches_its_docstring():
    """backprop.py's forward returns what backprop receives: the activations handgrad's check builds."""
    g = torch.Generator().manual_seed(0)
    x, w1, b1, w2, b2 = (torch.randn(*s, generator=g) for s in ((4, 3), (5, 3), (5,), (2, 5), (2,)))
    spec = importlib.util.spec_from_file_location("backprop_exercise", os.path.join(EXERCISES, "backprop.py"))
    exercise = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exercise)
    output, activations = exercise.forward(x, [w1, w2], [b1, b2])
    assert torch.allclose(activations[1], torch.sigmoid(x @ w1.T + b1))
    assert torch.allclose(output, activations[1] @ w2.T + b2)
