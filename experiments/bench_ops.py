"""Benchmark: forward+backward time of every handgrad op against torch autograd.

For each op, handgrad's op and torch's own op run on the same inputs, float32, in
paired repeats whose order alternates; the table shows the median time of each,
the median of the per-pair ratios (handgrad / torch), and the bytes each saves for
backward. A second table gives the fixed cost per call at batch 1; a third, conv2d on a
ResNet-like layer (batch 32, 64 -> 64 channels, 32x32, 3x3 kernel, padding 1). A last
table gives a floor: a Python autograd.Function whose backward is one multiply over the
tensors torch's fused sigmoid backward reads, against torch.sigmoid, on the activations'
4096x1024 input; no hand-written backward of two or more kernels can get below it.

To run:  python experiments/bench_ops.py [--repeats 30] [--out experiments/results/bench_ops.md]
         python experiments/bench_ops.py --device cuda   # on a GPU: experiments/results/bench_ops_cuda.md
         python experiments/bench_ops.py --only conv2d --threads 1   # the third table only, printed
"""
import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as TF
from torch.autograd import Function

import handgrad.functional as HF


def cases(batch, classes, features):
    """(name, handgrad op, torch op, input maker); each input maker returns (args, grad tensors)."""

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

    return [
        ("linear", HF.linear, TF.linear, linear),
        ("sigmoid", HF.sigmoid, torch.sigmoid, act),
        ("tanh", HF.tanh, torch.tanh, act),
        ("relu", HF.relu, TF.relu, act),
        ("leaky_relu", HF.leaky_relu, TF.leaky_relu, act),
        ("softmax", lambda x: HF.softmax(x, 1), lambda x: TF.softmax(x, 1), act),
        ("log_softmax", lambda x: HF.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), act),
        ("mse_loss", HF.mse_loss, TF.mse_loss, pair),
        ("cross_entropy (indices)", HF.cross_entropy, TF.cross_entropy, logits_and_index),
        ("cross_entropy (probs)", HF.cross_entropy, TF.cross_entropy, logits_and_probs),
        ("nll_loss", HF.nll_loss, TF.nll_loss, logits_and_index),
        ("binary_cross_entropy", HF.binary_cross_entropy, TF.binary_cross_entropy, probs_and_target),
        ("bce_with_logits", HF.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, pair),
    ]


def conv_cases():
    """The conv2d of a ResNet basic block's 3x3 layer at CIFAR size, with bias."""

    def resnet_layer():
        return (torch.randn(32, 64, 32, 32).requires_grad_(), torch.randn(64, 64, 3, 3).mul_(0.05).requires_grad_(),
                torch.randn(64).requires_grad_())

    return [
        ("conv2d 32x64x32x32, 64x64x3x3, padding 1", lambda x, w, b: HF.conv2d(x, w, b, padding=1),
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

    return [("Function with a one-multiply backward vs torch.sigmoid", OneMultiplyFloor.apply, torch.sigmoid, act)]


def step(fn, args, grad_output):
    for a in args:
        a.grad = None
    out = fn(*args)
    out.backward(grad_output)
    if out.is_cuda:
        torch.cuda.synchronize()  # a GPU runs kernels asynchronously: time them to the end


def saved_bytes(fn, args):
    """Bytes of the tensors the op saves for backward (each storage counted once)."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(storages.values())


def time_pair(hg, th, args, grad_output, repeats):
    for _ in range(3):  # warm-up: allocator, thread pool
        step(hg, args, grad_output)
        step(th, args, grad_output)
    hg_times, th_times = [], []
    for i in range(repeats):
        order = [(hg, hg_times), (th, th_times)] if i % 2 == 0 else [(th, th_times), (hg, hg_times)]
        for fn, times in order:
            start = time.perf_counter()
            step(fn, args, grad_output)
            times.append(time.perf_counter() - start)
    ratios = [h / t for h, t in zip(hg_times, th_times)]
    return statistics.median(hg_times), statistics.median(th_times), statistics.median(ratios)


def run(batch, classes, features, repeats):
    return run_cases(cases(batch, classes, features), repeats)


def run_cases(op_cases, repeats):
    rows = []
    for name, hg, th, make in op_cases:
        torch.manual_seed(0)
        args = make()
        with torch.no_grad():
            grad_output = torch.ones_like(th(*args))
        hg_s, th_s, ratio = time_pair(hg, th, args, grad_output, repeats)
        rows.append((name, hg_s, th_s, ratio, saved_bytes(hg, args), saved_bytes(th, args)))
    return rows


def table(title, rows, unit, scale):
    lines = [
        f"### {title}", "",
        f"| op | handgrad ({unit}) | torch ({unit}) | ratio | saved for backward, handgrad / torch (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, hg_s, th_s, ratio, hg_b, th_b in rows:
        lines.append(
            f"| {name} | {hg_s * scale:.3f} | {th_s * scale:.3f} | {ratio:.2f} | {hg_b / 2**20:.2f} / {th_b / 2**20:.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the benchmark")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the tables; default experiments/results/bench_ops.md, "
                             "none with --only (printed only)")
    parser.add_argument("--only", choices=["conv2d"], default=None, help="run only this table")
    parser.add_argument("--device", default="cpu", help="where the tensors live: cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_device(args.device)
    where = (f"{torch.get_num_threads()} threads" if args.device == "cpu"
             else torch.cuda.get_device_name(torch.device(args.device)))
    header = f"torch {torch.__version__}, {where}, float32, median of {args.repeats} paired repeats"
    conv_title = "Convolution: forward + backward of a ResNet-like layer"
    if args.only == "conv2d":
        text = "\n\n".join([header, table(conv_title, run_cases(conv_cases(), args.repeats), "ms", 1e3)])
        print(text)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        return
    out = args.out or Path("experiments/results/bench_ops.md" if args.device == "cpu" else
                           "experiments/results/bench_ops_cuda.md")
    # linear: batch 256, 784 -> 512; activations 4096x1024; costs batch 4096 x 1000 classes
    big = run(256, (4096, 1024), (784, 512), args.repeats)
    big = [r if not r[0].endswith(("loss", ")", "logits")) else r for r in big]
    costs = run(256, (4096, 1000), (784, 512), args.repeats)
    cost_names = {"mse_loss", "cross_entropy (indices)", "cross_entropy (probs)", "nll_loss",
                  "binary_cross_entropy", "bce_with_logits"}
    rows = [r for r in big if r[0] not in cost_names] + [r for r in costs if r[0] in cost_names]
    small = run(1, (1, 10), (64, 30), args.repeats * 10)
    conv = run_cases(conv_cases(), args.repeats)
    floor = run_cases(floor_cases((4096, 1024)), args.repeats)
    text = "\n\n".join([
        header,
        table("Forward + backward at working sizes", rows, "ms", 1e3),
        table("Fixed cost per call at batch 1", small, "us", 1e6),
        table(conv_title, conv, "ms", 1e3),
        table("Floor: a Python Function whose backward is one kernel", floor, "ms", 1e3),
    ])
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    worst = max(r[3] for r in rows)
    print(f"\nworst ratio at working sizes: {worst:.2f}")


if __name__ == "__main__":
    main()
