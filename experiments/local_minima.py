"""Local versus global minimum: stochastic descent finds the deeper minimum from more starts than batch descent.

The cost. Two parameters w = (w1, w2) locate the "centre" of a 2-D data set with the
Cauchy (Lorentzian) cost of robust statistics, averaged over the samples:

    C(w) = 1/N sum_i c_i(w),   c_i(w) = log(1 + |w - x_i|^2 / s^2),   s = 0.3.

The data are two clusters: 120 points around (1.25, 0.3) and 60 around (-1.25, -0.3).
Each cluster makes a basin of C: the big one the global minimum, the small one a
shallower local minimum (C is about 1 higher there); a saddle lies between them.
Nothing in C or the data knows about the descents: it is the textbook non-convex
cost of a robust location estimate, which is why it has a local minimum at all.

The descents. From the same 200 starting points, drawn uniformly over the plotted box,
batch descent steps along the exact gradient of C (all 180 samples), stochastic
descent along the gradient of one random sample's c_i, with the same learning rate
and the same number of steps. A run's end point is then classified by the minimum that
exact gradient descent reaches from it (the basin it ended in). Batch descent cannot
leave the basin it starts in, so its fraction is the share of the box the global
basin covers. Stochastic descent's single-sample gradients are far from the average
one: near the small cluster a sample of the big cluster, or a point across the small
cluster, kicks the parameters by up to lr / s per step. The kicks out of the shallow,
narrow basin carry it over the saddle more often than kicks out of the deep, wide
basin carry it back. The effect needs noise that is large relative to the basins:
the table sweeps the learning rate, and at the smallest one stochastic descent
behaves like batch descent.

The gradient of C comes from CauchyCostFunction below, a handgrad-style autograd.Function
whose backward is written by hand.

To run:  python -m experiments.local_minima [--quick] [--out experiments/results]
"""
import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from torch.autograd import Function

from experiments.plotting import OKABE_ITO, plt, save, style

SCALE = 0.3  # s: the distance at which one sample's cost bends from quadratic to logarithmic
BOX = (2.5, 2.0)  # starts and plot cover [-2.5, 2.5] x [-2, 2]
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3)
SHOWN_LR = 0.1  # the learning rate of the trajectories in the figure
SHOWN_RUNS = 4  # trajectories drawn per method
COLUMNS = ["lr", "method", "starts", "steps", "fraction_global", "started_global", "local_to_global",
           "global_to_local", "final_cost_mean"]


class CauchyCostFunction(Function):
    r"""Mean Cauchy cost of each run's parameters over its points:
    :math:`C_r = \frac1K \sum_k \log(1 + |w_r - x_{rk}|^2 / s^2)`;
    derivative :math:`\partial C_r / \partial w_r = \frac1K \sum_k 2 (w_r - x_{rk}) / (s^2 + |w_r - x_{rk}|^2)`.
    """

    @staticmethod
    def forward(params, points, scale):
        return torch.log1p(squared_distances(params, points) / scale**2).mean(1)  # (R, K) -> (R,)

    @staticmethod
    def setup_context(ctx, inputs, output):
        params, points, scale = inputs
        ctx.save_for_backward(params, points)
        ctx.scale = scale

    @staticmethod
    def backward(ctx, grad_output):
        params, points = ctx.saved_tensors
        grad_params = None
        if ctx.needs_input_grad[0]:
            dw1, dw2 = params[:, 0, None] - points[..., 0], params[:, 1, None] - points[..., 1]  # (R, K) each
            factor = 2 / (dw1 * dw1 + dw2 * dw2 + ctx.scale**2)  # 2 / (s^2 + r^2), (R, K)
            grad_params = torch.stack([(factor * dw1).mean(1), (factor * dw2).mean(1)], 1)  # (R, 2)
            grad_params.mul_(grad_output[:, None])
        if ctx.needs_input_grad[1]:
            raise NotImplementedError("CauchyCostFunction: the data points are constants")
        return grad_params, None, None


def squared_distances(params, points):
    """|w_r - x_rk|^2 for params (R, 2) and points (R, K, 2) -> (R, K), one coordinate at a time
    (a sum over a last dimension of size 2 is many times slower than two elementwise ops)."""
    dw1, dw2 = params[:, 0, None] - points[..., 0], params[:, 1, None] - points[..., 1]
    return dw1 * dw1 + dw2 * dw2


def cauchy_cost(params, points, scale=SCALE):
    """C for each run: params (R, 2), points (R, K, 2) (each run's samples) -> (R,)."""
    return CauchyCostFunction.apply(params, points, scale)


def gradient(params, points):
    """dC/dw for each run, through autograd, whose engine runs only CauchyCostFunction.backward."""
    params = params.detach().requires_grad_()
    cost = cauchy_cost(params, points)
    (grad,) = torch.autograd.grad(cost, params, torch.ones_like(cost))
    return grad


def make_data(seed=1):
    generator = torch.Generator().manual_seed(seed)
    big = torch.randn(120, 2, generator=generator, dtype=torch.float64) * 0.3 + torch.tensor([1.25, 0.3])
    small = torch.randn(60, 2, generator=generator, dtype=torch.float64) * 0.2 + torch.tensor([-1.25, -0.3])
    return torch.cat([big, small])


def all_points(data, runs):
    return data[None].expand(runs, -1, -1)  # every run sees every sample (a view, no copy)


def settle(params, data, steps=600, lr=0.05):
    """Exact gradient descent with a small, stable step: where each point's basin leads."""
    points = all_points(data, len(params))
    for _ in range(steps):
        params = params - lr * gradient(params, points)
    return params


def descend(starts, data, lr, steps, stochastic, seed, keep_path=False):
    """Batch (exact gradient) or stochastic (one random sample per step) descent of every start at once."""
    generator = torch.Generator().manual_seed(seed)
    params, path = starts.clone(), [starts]
    everything = all_points(data, len(starts))
    for _ in range(steps):
        if stochastic:
            picks = torch.randint(len(data), (len(starts),), generator=generator)
            points = data[picks][:, None, :]  # one sample per run, (R, 1, 2)
        else:
            points = everything
        params = params - lr * gradient(params, points)
        if keep_path:
            path.append(params)
    return params, torch.stack(path) if keep_path else None


def basin(params, data, minima):
    """0 for the global minimum's basin, 1 for the local one's (the nearer minimum after settling)."""
    # a point on the saddle's ridge settles slowly; it is counted with the minimum it is nearer to
    return torch.cdist(settle(params, data), minima).argmin(1)


def find_minima(data):
    minima = settle(torch.tensor([[1.25, 0.3], [-1.25, -0.3]], dtype=torch.float64), data, steps=3000)
    costs = cauchy_cost(minima, all_points(data, 2)).detach()
    order = costs.argsort()  # global first
    return minima[order], costs[order]


def random_starts(count, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 2, generator=generator, dtype=torch.float64) * 2 - 1) * torch.tensor(BOX)


def run(starts, data, minima, learning_rates, steps, seed):
    runs = [(lr, method) for lr in learning_rates for method in ("batch", "stochastic")]
    ends, paths = [], {}
    for lr, method in runs:
        end, path = descend(starts, data, lr, steps, method == "stochastic", seed, keep_path=lr == SHOWN_LR)
        ends.append(end)
        if path is not None:
            paths[method] = path
    # the starts and every run's ends settle together (each row's cost is its own): one settle, not five
    start_basin, *end_basins = basin(torch.cat([starts, *ends]), data, minima).split(len(starts))
    rows, shown = [], {}
    for (lr, method), ends_of_run, end_basin in zip(runs, ends, end_basins):
        rows.append(dict(
            lr=lr, method=method, starts=len(starts), steps=steps,
            fraction_global=(end_basin == 0).double().mean().item(),
            started_global=(start_basin == 0).double().mean().item(),
            local_to_global=((start_basin == 1) & (end_basin == 0)).sum().item(),
            global_to_local=((start_basin == 0) & (end_basin == 1)).sum().item(),
            final_cost_mean=cauchy_cost(ends_of_run, all_points(data, len(ends_of_run))).mean().item(),
        ))
        if lr == SHOWN_LR:
            shown[method] = (paths[method], end_basin)
    return rows, shown, start_basin


def plot(data, minima, costs, rows, shown, start_basin, learning_rates, path, grid_size):
    style()
    fig, (contour, sweep) = plt.subplots(1, 2, figsize=(14, 5.8), gridspec_kw=dict(width_ratios=[1.35, 1]))
    w1 = torch.linspace(-BOX[0], BOX[0], grid_size, dtype=torch.float64)
    w2 = torch.linspace(-BOX[1], BOX[1], int(grid_size * BOX[1] / BOX[0]), dtype=torch.float64)
    grid = torch.cartesian_prod(w2, w1).flip(1)  # rows of (w1, w2), w1 fastest
    shape = (len(w2), len(w1))
    cost = cauchy_cost(grid, all_points(data, len(grid))).detach().reshape(shape)
    filled = contour.contourf(w1, w2, cost, levels=20, cmap="cividis")
    fig.colorbar(filled, ax=contour, label="cost C(w) (dimensionless)")
    regions = basin(grid, data, minima).reshape(shape).double()
    contour.contour(w1, w2, regions, levels=[0.5], colors="white", linewidths=1.5, linestyles=":")
    contour.scatter(*data.T, s=4, color="white", alpha=0.5, label="data points x_i")
    # a few starts from the local basin: batch stays, stochastic may leave
    chosen = torch.nonzero(start_basin == 1).flatten()[:SHOWN_RUNS]
    for method, colour, width in (("stochastic", OKABE_ITO["vermillion"], 0.6), ("batch", OKABE_ITO["sky"], 2.2)):
        trajectories, _ = shown[method]
        for index, run_index in enumerate(chosen):
            line = trajectories[:, run_index]
            contour.plot(*line.T, color=colour, lw=width, alpha=0.9,
                         label=f"{method} descent (lr {SHOWN_LR})" if index == 0 else None)
    contour.scatter(*trajectories[0, chosen].T, marker="o", s=40, facecolor="none", edgecolor="black",
                    linewidths=1.5, label="starts (shared)", zorder=5)
    contour.scatter(*minima[0], marker="*", s=260, color=OKABE_ITO["yellow"], edgecolor="black", zorder=6,
                    label=f"global minimum, C = {costs[0]:.2f}")
    contour.scatter(*minima[1], marker="v", s=110, color=OKABE_ITO["purple"], edgecolor="black", zorder=6,
                    label=f"local minimum, C = {costs[1]:.2f}")
    contour.plot([], [], color="white", ls=":", label="edge of the global basin")
    contour.set(xlim=(-BOX[0], BOX[0]), ylim=(-BOX[1], BOX[1]), xlabel="parameter w1", ylabel="parameter w2",
                title=f"Cauchy cost C(w) of two data clusters; {SHOWN_RUNS} runs started in the local basin")
    contour.legend(loc="lower right", fontsize=8, framealpha=0.9)
    for method, colour, marker in (("batch", OKABE_ITO["blue"], "s"), ("stochastic", OKABE_ITO["vermillion"], "o")):
        fractions = [row["fraction_global"] for row in rows if row["method"] == method]
        sweep.plot(learning_rates, fractions, marker=marker, color=colour, lw=2, label=f"{method} descent")
    sweep.axhline(rows[0]["started_global"], color="black", ls="--", lw=1, label="share of starts in the global basin")
    sweep.set(xscale="log", ylim=(0, 1.02), xlabel="learning rate (log scale)",
              ylabel="fraction of runs ending in the global minimum",
              title=f"{rows[0]['starts']} shared starts, {rows[0]['steps']} steps each")
    sweep.legend(loc="lower right")
    fig.suptitle("Local versus global minimum: one-sample gradients carry stochastic descent out of the shallow basin",
                 fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def write_table(rows, out):
    with open(out / "local_minima.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows({key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
                         for row in rows)
    lines = ["| lr | method | ends in global minimum | local -> global | global -> local | mean final cost |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {row['lr']} | {row['method']} | {row['fraction_global']:.2f} | {row['local_to_global']} "
              f"| {row['global_to_local']} | {row['final_cost_mean']:.3f} |" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 starts, 150 steps, two learning rates, coarse grid")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = parser.parse_args(argv)
    starts_count, steps, learning_rates, grid = (40, 150, (0.03, SHOWN_LR), 20) if args.quick else (
        200, 1000, LEARNING_RATES, 70)
    args.out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: on a shared machine extra threads only wait for each other
    try:
        return experiment(args, starts_count, steps, learning_rates, grid)
    finally:
        torch.set_num_threads(threads)


def experiment(args, starts_count, steps, learning_rates, grid):
    data = make_data()
    minima, costs = find_minima(data)
    rows, shown, start_basin = run(random_starts(starts_count, seed=0), data, minima, learning_rates, steps, seed=0)
    print(write_table(rows, args.out))
    print("figure:", plot(data, minima, costs, rows, shown, start_basin, learning_rates,
                          args.out / "local_minima.png", grid))


if __name__ == "__main__":
    main()
