"""A config's test accuracy over three seeds, through the handgrad command.

For each seed, ``handgrad fit --config CONFIG --seed_everything S`` trains the config's
network (its wall time, start-up included, is the fit time), then
``handgrad test --ckpt_path <run>/checkpoints/best.ckpt`` tests the checkpoint chosen on
validation. Each command runs with OMP_NUM_THREADS=1 (the networks are small). The seed sets
the initial weights and the dropout masks; the split and the shuffling are the datamodule's own
(seed 0) in every run. The table of per-seed test accuracies, their mean and the fit times
goes to experiments/results/<config name>_seeds.md.

To run:  .venv/bin/python experiments/seeds.py [--config experiments/configs/digits_cnn.yaml] [--seeds 1 2 3]
         [--ops experiments/exercises/reference_ops.py]   (a learner's ops file, as --model.ops)
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "experiments/configs/digits_cnn.yaml"


def handgrad(*args):
    """Runs the handgrad command from the repository root; returns (stdout, wall seconds)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "handgrad", *args, "--trainer.enable_progress_bar", "false"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"seeds: {' '.join(args[:3])} failed:\n{result.stderr[-3000:]}")
    return result.stdout, seconds


def metric(stdout, name):
    """A metric's value from the table Lightning prints after `handgrad test`."""
    match = re.search(rf"\b{name}\b\W+([0-9.]+)", stdout)
    if match is None:
        raise SystemExit(f"seeds: no {name} in the test output:\n{stdout[-2000:]}")
    return float(match.group(1))


def best_epoch(checkpoint):
    """The epoch (counting from 1) of the checkpoint ModelCheckpoint kept, and its monitored score."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # handgrad checkpoints are plain
    callback = next(v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint"))
    return state["epoch"] + 1, float(callback["best_model_score"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=None, help="default: experiments/results/<config>_seeds.md")
    parser.add_argument("--ops", default=None, help="a learner's ops file, passed as --model.ops to fit and test")
    args = parser.parse_args()
    name = Path(args.config).stem
    args.out = args.out or Path(f"experiments/results/{name}_seeds.md")

    rows = []
    for seed in args.seeds:
        run = f"runs/{name}_seeds/seed{seed}"
        common = ["--config", args.config, "--seed_everything", str(seed), "--trainer.default_root_dir", run]
        common += ["--model.ops", args.ops] if args.ops else []
        _, fit_seconds = handgrad("fit", *common, "--overwrite", "true")  # a rerun starts afresh
        checkpoint = ROOT / run / "checkpoints" / "best.ckpt"
        epoch, val_loss = best_epoch(checkpoint)
        stdout, _ = handgrad("test", *common, "--ckpt_path", str(checkpoint))
        rows.append((seed, metric(stdout, "test_acc"), metric(stdout, "test_loss"), epoch, val_loss, fit_seconds))
        print(f"seed {seed}: test_acc {rows[-1][1]:.4f}, best epoch {epoch}, fit {fit_seconds:.0f} s", flush=True)

    accuracies = [row[1] for row in rows]
    fits = [row[5] for row in rows]
    lines = [
        f"`{args.config}`{f' with `--model.ops {args.ops}`' if args.ops else ''}: `handgrad fit` then `handgrad test` on the checkpoint "
        f"its ModelCheckpoint chose on validation; torch {torch.__version__}, OMP_NUM_THREADS=1, "
        f"{os.cpu_count()} CPUs shared with other jobs, {platform.machine()}.",
        "",
        "| seed | test_acc | test_loss | best epoch | monitored score there | fit (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, acc, loss, epoch, val_loss, seconds in rows:
        lines.append(f"| {seed} | {acc:.4f} | {loss:.4f} | {epoch} | {val_loss:.4f} | {seconds:.0f} |")
    lines.append(f"| mean | {statistics.mean(accuracies):.4f} | | | | {statistics.mean(fits):.0f} |")
    lines += [
        "",
        f"Fit time is the wall time of the whole `handgrad fit` command (start-up, "
        f"training, validation each epoch, checkpoints); the slowest was {max(fits):.0f} s.",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
