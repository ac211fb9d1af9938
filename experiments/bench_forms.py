"""Benchmark: candidate ways to write one backward, each against torch autograd.

The reference tier (handgrad.functional) writes each backward as its formula; several
formulas are equally true (relu's step as ``output > 0`` or as ``sign(output)``, the product
out of place or with ``*=`` on the backward's own tensor). This script times each candidate
inside a Python autograd.Function, forward + backward on the activations' 4096 x 1024 input,
against torch's own op, as experiments/bench_ops.py times the ops (median of the per-repeat
ratios, order rotating); the reference tier uses the cheapest readable one.

To run:  python experiments/bench_forms.py [--repeats 20] [--threads 1] [--out experiments/results/bench_forms.md]
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as TF
from torch.autograd import Function

sys.path.insert(0, str(Path(__file__).parent))
from bench_ops import autograd_step, time_calls  # noqa: E402

SLOPE = 0.01


def function(forward, backward, save_input=False):
    """An autograd.Function with this forward and backward(saved, grad_output); it saves the
    output, or the input where the derivative needs it."""

    class Candidate(Function):
        @staticmethod
        def forward(input):
            return forward(input)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0] if save_input else output)

        @staticmethod
        def backward(ctx, grad_output):
            (saved,) = ctx.saved_tensors
            return backward(saved, grad_output)

    return Candidate.apply


def times_grad(derivative):
    """The form ``grad = derivative(saved); grad *= g``: the backward's own tensor, updated."""

    def backward(saved, grad_output):
        grad = derivative(saved)
        grad *= grad_output
        return grad

    return backward


def softmax_own(y, g):
    grad = g - (g * y).sum(1, keepdim=True)
    grad *= y
    return grad


def log_softmax_own(y, g):
    grad = torch.exp(y) * -g.sum(1, keepdim=True)
    grad += g
    return grad


# op -> (torch's op, reference forward, saves the input, {form: backward(saved, g)})
CANDIDATES = {
    "sigmoid": (torch.sigmoid, torch.sigmoid, False, {
        "g * y * (1 - y)": lambda y, g: g * y * (1 - y),
        "grad = y * (1 - y); grad *= g": times_grad(lambda y: y * (1 - y)),
    }),
    "tanh": (torch.tanh, torch.tanh, False, {
        "g * (1 - y * y)": lambda y, g: g * (1 - y * y),
        "grad = 1 - y * y; grad *= g": times_grad(lambda y: 1 - y * y),
    }),
    "relu": (torch.relu, torch.relu, False, {
        "g * (y > 0)": lambda y, g: g * (y > 0),
        "torch.where(y > 0, g, 0)": lambda y, g: torch.where(y > 0, g, 0.0),
        "grad = sign(y); grad *= g": times_grad(torch.sign),
        "grad = (y > 0).to(g.dtype); grad *= g": times_grad(lambda y: (y > 0).to(y.dtype)),
        "grad = heaviside(y, 0); grad *= g": times_grad(lambda y: torch.heaviside(y, y.new_zeros(()))),
    }),
    "leaky_relu": (lambda x: TF.leaky_relu(x, SLOPE), lambda x: TF.leaky_relu(x, SLOPE), True, {
        "torch.where(x > 0, g, a * g)": lambda x, g: torch.where(x > 0, g, SLOPE * g),
        "grad = threshold(sign(x), 0, a); grad *= g": times_grad(lambda x: TF.threshold(torch.sign(x), 0, SLOPE)),
        "grad = where(x > 0, 1, a); grad *= g": times_grad(lambda x: torch.where(x > 0, x.new_ones(()), SLOPE)),
    }),
    "softmax": (lambda x: TF.softmax(x, 1), lambda x: torch.softmax(x, 1), False, {
        "y * (g - (g * y).sum(1))": lambda y, g: y * (g - (g * y).sum(1, keepdim=True)),
        "grad = g - (g * y).sum(1); grad *= y": softmax_own,
    }),
    "log_softmax": (lambda x: TF.log_softmax(x, 1), lambda x: torch.log_softmax(x, 1), False, {
        "g - exp(y) * g.sum(1)": lambda y, g: g - torch.exp(y) * g.sum(1, keepdim=True),
        "grad = exp(y) * -g.sum(1); grad += g": log_softmax_own,
    }),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for the benchmark")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/bench_forms.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(4096, 1024).requires_grad_()
    grad_output = torch.ones(4096, 1024)
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, 4096 x 1024, "
             f"median of {args.repeats} repeats in rotating order", "",
             "| op | backward written as | candidate (ms) | torch (ms) | candidate / torch |", "|---|---|---:|---:|---:|"]
    for op, (torch_op, forward, save_input, forms) in CANDIDATES.items():
        for form, backward in forms.items():
            candidate = function(forward, backward, save_input)
            (medians, ratios) = time_calls(
                [autograd_step(candidate, (x,), grad_output), autograd_step(torch_op, (x,), grad_output)], args.repeats
            )
            lines.append(f"| {op} | `{form}` | {medians[0] * 1e3:.2f} | {medians[1] * 1e3:.2f} | {ratios[0]:.2f} |")
            print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
