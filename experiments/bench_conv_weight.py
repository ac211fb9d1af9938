"""Benchmark: conv2d's weight gradient written with public tensor ops, against torch's own kernel.

The weight gradient of y = conv2d(x, W) is G[o, c, i, j] = sum over n, p, q of
g[n, o, p, q] * x_padded[n, c, p + i, q + j]. torch computes it with a dedicated kernel
(aten::convolution_backward), which handgrad's hand-written backward may not call. This script
times the ways to write it with public ops, at bench_ops.py's ResNet-like layer (batch 32,
64 -> 64 channels, 32 x 32, 3 x 3 kernel, padding 1):

- as a convolution (handgrad's reference tier): batch and channels swap roles, and the output
  gradient becomes a 32 x 32 kernel giving a 3 x 3 result;
- as nine matrix products, one per kernel tap (i, j), each over the shifted input;
- as ``unfold`` (im2col) and one matrix product.

To run:  python experiments/bench_conv_weight.py [--repeats 9] [--threads 1]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as TF

from handgrad.functional.conv import Conv2dWeightFunction


def candidates(x, g, w):
    batch, channels, height, width = x.shape
    out_channels = g.shape[1]

    def torch_kernel():
        return torch.ops.aten.convolution_backward(
            g, x, w, [out_channels], (1, 1), (1, 1), (1, 1), False, (0, 0), 1, (False, True, False))[1]

    def as_convolution():
        return Conv2dWeightFunction.apply(x, g, (3, 3), (1, 1), (1, 1), (1, 1), 1)

    def per_tap_products():
        padded = TF.pad(x, (1, 1, 1, 1))
        grads = g.transpose(0, 1).reshape(out_channels, -1)  # (O, N * H * W)
        taps = [grads @ padded[:, :, i:i + height, j:j + width].transpose(0, 1).reshape(channels, -1).T
                for i in range(3) for j in range(3)]
        return torch.stack(taps, -1).reshape(out_channels, channels, 3, 3)

    def unfold_product():
        columns = TF.unfold(x, (3, 3), padding=1)  # (N, C * 9, H * W)
        grads = g.transpose(0, 1).reshape(out_channels, -1)  # (O, N * H * W)
        return (grads @ columns.transpose(1, 2).reshape(-1, channels * 9)).reshape(out_channels, channels, 3, 3)

    return {"torch's kernel (convolution_backward)": torch_kernel, "as a convolution (reference tier)": as_convolution,
            "nine matrix products, one per tap": per_tap_products, "unfold + one matrix product": unfold_product}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, g, w = torch.randn(32, 64, 32, 32), torch.randn(32, 64, 32, 32), torch.randn(64, 64, 3, 3)
    forms = candidates(x, g, w)
    reference = next(iter(forms.values()))()
    times = {name: [] for name in forms}
    for form in forms.values():
        form()  # warm-up
    for _ in range(args.repeats):
        for name, form in forms.items():
            start = time.perf_counter()
            form()
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(next(iter(times.values())))
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} repeats\n")
    print("| weight gradient written as | ms | / torch's kernel | max abs difference |\n|---|---:|---:|---:|")
    for name, form in forms.items():
        median = statistics.median(times[name])
        error = (form() - reference).abs().max().item()
        print(f"| {name} | {median * 1e3:.1f} | {median / baseline:.2f} | {error:.1e} |")


if __name__ == "__main__":
    main()
