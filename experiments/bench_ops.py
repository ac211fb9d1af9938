"""Benchmark: forward + backward time of every handgrad op, reference tier and fast tier, against torch.

For each op, handgrad's reference Function (handgrad.functional, through autograd), the fast
tier (handgrad.fast, no autograd: forward and gradients by hand, where it has the op) and torch's
own op through autograd run on the same inputs, float32, in repeats whose order rotates; the
tables show the median time of each, the median of the per-repeat ratios to torch, and the
bytes the reference Function and torch's op save for backward. A second table gives the fixed
cost per call at batch 1; a third, conv2d on a ResNet-like layer (batch 32, 64 -> 64 channels,
32x32, 3x3 kernel, padding 1); a fourth, a torchvision resnet18 with every layer swapped
(handgrad.swap) against the same model unswapped (batch 16, 3 x 64 x 64, one forward and
backward of cross-entropy). A last table gives a floor: a Python autograd.Function whose
backward is one multiply over the tensors torch's fused sigmoid backward reads, against
torch.sigmoid, on the activations' 4096x1024 input; no hand-written backward of two or more
kernels can get below it.

To run:  python experiments/bench_ops.py [--repeats 30] [--out experiments/results/bench_ops.md]
         python experiments/bench_ops.py --device cuda   # on a GPU: experiments/results/bench_ops_cuda.md
         python experiments/bench_ops.py --only conv2d --threads 1   # one table only, printed
"""
import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as TF
from torch.autograd import Function

import handgrad
import handgrad.functional as HF
from handgrad import fast


def _fast_linear(x, w, b, g):
    """Forward and the three gradients, by hand, in the fast tier's layouts."""
    fast.affine(x, w, b)
    return fast.times_weight(g, w), g.t().matmul(x), g.sum(0)


def _fast_activation(name, forward):
    """torch's activation forward, then the fast tier's derivative from the output, times g."""
    derivative = fast.ACTIVATIONS[name][1]

    def run(x, g):
        return derivative(forward(x)).mul_(g)

    return run


def _fast_cross_entropy(logits, targets, g):
    return fast.cost_and_logit_grad(logits, targets, "cross_entropy", 1.0 / len(logits))


def cases(batch, classes, features):
    """(name, reference op, fast tier (args + upstream -> gradients) or None, torch op, input maker)."""

    def randn(*shape, grad=True):
        return torch.randn(*shape).requires_grad_(grad)

    def linear():
        n, (fin, fout) = (batch, features)
        return (randn(n, fin), randn(fout, fin), randn(fout))

    def act():
        return (randn(*classes),)

    def logits_and_index():
        n, c = classes
        return (randn(n, c), torch.randint(c, (n,)))

    def logits_and_probs():
        n, c = classes
        return (randn(n, c), torch.softmax(torch.randn(n, c), 1))

    def pair():
        return (randn(*classes), torch.rand(*classes))

    def probs_and_target():
        return (torch.rand(*classes).clamp(1e-3, 1 - 1e-3).requires_grad_(), torch.rand(*classes))

    leaky = (lambda x: TF.leaky_relu(x, fast.LEAKY_SLOPE))
    return [
        ("linear", HF.linear, _fast_linear, TF.linear, linear),
        ("sigmoid", HF.sigmoid, _fast_activation("sigmoid", torch.sigmoid), torch.sigmoid, act),
        ("tanh", HF.tanh, _fast_activation("tanh", torch.tanh), torch.tanh, act),
        ("relu", HF.relu, _fast_activation("relu", torch.relu), TF.relu, act),
        ("leaky_relu", HF.leaky_relu, _fast_activation("leaky_relu", leaky), TF.leaky_relu, act),
        ("softmax", lambda x: HF.softmax(x, 1), None, lambda x: TF.softmax(x, 1), act),
        ("log_softmax", lambda x: HF.log_softmax(x, 1), None, lambda x: TF.log_softmax(x, 1), act),
        ("mse_loss", HF.mse_loss, None, TF.mse_loss, pair),
        ("cross_entropy (indices)", HF.cross_entropy, _fast_cross_entropy, TF.cross_entropy, logits_and_index),
        ("cross_entropy (probs)", HF.cross_entropy, None, TF.cross_entropy, logits_and_probs),
        ("nll_loss", HF.nll_loss, None, TF.nll_loss, logits_and_index),
        ("binary_cross_entropy", HF.binary_cross_entropy, None, TF.binary_cross_entropy, probs_and_target),
        ("bce_with_logits", HF.binary_cross_entropy_with_logits, None, TF.binary_cross_entropy_with_logits, pair),
    ]


COSTS = {"mse_loss", "cross_entropy (indices)", "cross_entropy (probs)", "nll_loss", "binary_cross_entropy",
         "bce_with_logits"}


def conv_cases():
    """The conv2d of a ResNet basic block's 3x3 layer at CIFAR size, with bias."""

    def resnet_layer():
        return (torch.randn(32, 64, 32, 32).requires_grad_(), torch.randn(64, 64, 3, 3).mul_(0.05).requires_grad_(),
                torch.randn(64).requires_grad_())

    return [
        ("conv2d 32x64x32x32, 64x64x3x3, padding 1", lambda x, w, b: HF.conv2d(x, w, b, padding=1), None,
         lambda x, w, b: TF.conv2d(x, w, b, padding=1), resnet_layer),
    ]


class OneMultiplyFloor(Function):
    """Not a handgrad op, and not a correct derivative: sigmoid's forward, and a backward that is
    one multiply of the upstream gradient by the saved output. That reads and writes what
    torch's fused sigmoid backward reads and writes, in one kernel as it does, so its time over
    torch's is what being a Python Function costs."""

    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return grad_output * output


def floor_cases(classes):
    def act():
        return (torch.randn(*classes).requires_grad_(),)

    return [("Function with a one-multiply backward vs torch.sigmoid", OneMultiplyFloor.apply, None, torch.sigmoid, act)]


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()  # a GPU runs kernels asynchronously: time them to the end


def autograd_step(fn, args, grad_output):
    """A zero-argument call: forward through ``fn`` and backward of ``grad_output`` by autograd."""

    def run():
        for a in args:
            a.grad = None
        fn(*args).backward(grad_output)
        _synchronize(grad_output.device)

    return run


def fast_step(fn, args, grad_output):
    """A zero-argument call: the fast tier's forward and gradients, with autograd off."""
    plain = [a.detach() if isinstance(a, torch.Tensor) else a for a in args]

    def run():
        with torch.no_grad():
            fn(*plain, grad_output)
        _synchronize(grad_output.device)

    return run


def saved_bytes(fn, args):
    """Bytes of the tensors the op saves for backward (each storage counted once)."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(storages.values())


def time_calls(calls, repeats):
    """Median seconds of each zero-argument call, and the median per-repeat ratio of each to the
    last (torch); the order of the calls rotates from repeat to repeat."""
    for _ in range(3):  # warm-up: allocator, thread pool
        for call in calls:
            call()
    times = [[] for _ in calls]
    for i in range(repeats):
        for k in range(len(calls)):
            j = (i + k) % len(calls)
            start = time.perf_counter()
            calls[j]()
            times[j].append(time.perf_counter() - start)
    medians = [statistics.median(t) for t in times]
    ratios = [statistics.median(a / b for a, b in zip(t, times[-1])) for t in times]
    return medians, ratios


def run_cases(op_cases, repeats):
    """Rows (name, reference s, fast s or None, torch s, reference ratio, fast ratio or None, saved bytes)."""
    rows = []
    for name, reference, fast_fn, torch_fn, make in op_cases:
        torch.manual_seed(0)
        args = make()
        with torch.no_grad():
            grad_output = torch.ones_like(torch_fn(*args))
        calls = [autograd_step(reference, args, grad_output)]
        if fast_fn is not None:
            calls.append(fast_step(fast_fn, args, grad_output))
        calls.append(autograd_step(torch_fn, args, grad_output))
        (medians, ratios) = time_calls(calls, repeats)
        fast_s, fast_ratio = (medians[1], ratios[1]) if fast_fn is not None else (None, None)
        rows.append((name, medians[0], fast_s, medians[-1], ratios[0], fast_ratio,
                     saved_bytes(reference, args), saved_bytes(torch_fn, args)))
    return rows


def resnet18_row(repeats, batch=16, size=64):
    """A torchvision resnet18 with every layer swapped against the same weights unswapped: one
    forward and backward of cross-entropy, in training mode."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    swapped, _ = handgrad.swap(copy.deepcopy(model))
    images, labels = torch.randn(batch, 3, size, size), torch.randint(1000, (batch,))
    device = images.device

    def step(network, cost):
        def run():
            network.zero_grad(set_to_none=True)
            cost(network(images), labels).backward()
            _synchronize(device)
        return run

    (medians, ratios) = time_calls([step(swapped, HF.cross_entropy), step(model, TF.cross_entropy)], repeats)
    return [(f"resnet18, batch {batch}, 3x{size}x{size}, swapped vs unswapped", medians[0], None, medians[1],
             ratios[0], None, None, None)]


def table(title, rows, unit, scale):
    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = [
        f"### {title}", "",
        f"| op | reference ({unit}) | fast ({unit}) | torch ({unit}) | reference / torch | fast / torch "
        "| saved for backward, reference / torch (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ref_s, fast_s, th_s, ref_ratio, fast_ratio, ref_b, th_b in rows:
        saved = "-" if ref_b is None else f"{ref_b / 2**20:.2f} / {th_b / 2**20:.2f}"
        lines.append(
            f"| {name} | {ref_s * scale:.3f} | {cell(fast_s and fast_s * scale, '.3f')} | {th_s * scale:.3f} "
            f"| {ref_ratio:.2f} | {cell(fast_ratio, '.2f')} | {saved} |"
        )
    return "\n".join(lines)


ONLY = {
    "conv2d": ("Convolution: forward + backward of a ResNet-like layer", lambda r: run_cases(conv_cases(), r)),
    "resnet18": ("A swapped torchvision resnet18: forward + backward of cross-entropy", resnet18_row),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the benchmark")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the tables; default experiments/results/bench_ops.md, "
                             "none with --only (printed only)")
    parser.add_argument("--only", choices=sorted(ONLY), default=None, help="run only this table")
    parser.add_argument("--device", default="cpu", help="where the tensors live: cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_device(args.device)
    where = (f"{torch.get_num_threads()} threads" if args.device == "cpu"
             else torch.cuda.get_device_name(torch.device(args.device)))
    header = f"torch {torch.__version__}, {where}, float32, median of {args.repeats} repeats in rotating order"
    if args.only is not None:
        title, run = ONLY[args.only]
        text = "\n\n".join([header, table(title, run(args.repeats), "ms", 1e3)])
        print(text)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        return
    out = args.out or Path("experiments/results/bench_ops.md" if args.device == "cpu" else
                           "experiments/results/bench_ops_cuda.md")
    # linear: batch 256, 784 -> 512; activations 4096x1024; costs batch 4096 x 1000 classes
    big = [r for r in run_cases(cases(256, (4096, 1024), (784, 512))[:7], args.repeats)]
    costs = run_cases([c for c in cases(256, (4096, 1000), (784, 512)) if c[0] in COSTS], args.repeats)
    small = run_cases(cases(1, (1, 10), (64, 30)), args.repeats * 10)
    text = "\n\n".join([
        header,
        table("Forward + backward at working sizes", big + costs, "ms", 1e3),
        table("Fixed cost per call at batch 1", small, "us", 1e6),
        table(ONLY["conv2d"][0], ONLY["conv2d"][1](args.repeats), "ms", 1e3),
        table(ONLY["resnet18"][0], resnet18_row(args.repeats), "ms", 1e3),
        table("Floor: a Python Function whose backward is one kernel", run_cases(floor_cases((4096, 1024)), args.repeats),
              "ms", 1e3),
    ])
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
