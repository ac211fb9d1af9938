"""Your own table, measured: scikit-learn's breast-cancer table written to CSV, trained through
TableDataModule with experiments/configs/breast_cancer.yaml (one sigmoid output unit, bce), and
scikit-learn's LogisticRegression and MLPClassifier on the very same split and scaling.

For each seed, the seed sets the split, the shuffling and the initial weights; handgrad tests the
checkpoint its ModelCheckpoint chose on validation; the scikit-learn models train on the same
(standardised) training rows and are scored on the same test rows. The table of test accuracies
goes to experiments/results/breast_cancer.md (docs/table.md quotes it).

To run:  python experiments/breast_cancer.py [--seeds 1 2 3] [--out experiments/results/breast_cancer.md]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "configs" / "breast_cancer.yaml"


def handgrad_run(seed, csv_path, run_dir):
    """Fit the config on the CSV with ``seed``, test its best checkpoint; return (test accuracy, datamodule)."""
    from handgrad.cli import HandgradCLI
    from handgrad.lightning import Classifier

    cli = HandgradCLI(Classifier, subclass_mode_data=True, run=False, args=[
        "--config", str(CONFIG), "--seed_everything", str(seed), "--data.init_args.seed", str(seed),
        "--data.init_args.path", str(csv_path), "--data.init_args.target", "target",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(run_dir)])
    cli.trainer.fit(cli.model, cli.datamodule)
    result = cli.trainer.test(cli.model, cli.datamodule, ckpt_path="best", verbose=False)
    return result[0]["test_acc"], cli.datamodule


def sklearn_accuracies(data, seed):
    """Test accuracy of LogisticRegression and MLPClassifier(16 hidden units) on the datamodule's split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = data.train_inputs.numpy(), data.train_targets.numpy()
    x_test, y_test = data.test_inputs.numpy(), data.test_targets.numpy()
    logistic = LogisticRegression(max_iter=5000).fit(x, y)
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=seed).fit(x, y)
    return logistic.score(x_test, y_test), mlp.score(x_test, y_test)


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "breast_cancer_seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "breast_cancer.md")
    options = parser.parse_args(args)
    from datamodules.table import write_csv

    options.runs.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv("breast_cancer", options.runs / "breast_cancer.csv")
    rows = []
    for seed in options.seeds:
        start = time.perf_counter()
        ours, data = handgrad_run(seed, csv_path, options.runs / f"seed{seed}")
        seconds = time.perf_counter() - start
        logistic, mlp = sklearn_accuracies(data, seed)
        rows.append((seed, len(data.test_targets), ours, logistic, mlp, seconds))
    lines = [
        f"`{CONFIG.relative_to(ROOT)}` on the breast-cancer table written to CSV "
        f"(`python experiments/breast_cancer.py`); OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"{os.cpu_count()} CPUs shared with other jobs. Test accuracy on the same stratified split and scaling per seed.",
        "",
        "| seed | test rows | handgrad (bce, 30-16-1) | LogisticRegression | MLPClassifier(16) | handgrad fit + test (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, count, ours, logistic, mlp, seconds in rows:
        lines.append(f"| {seed} | {count} | {ours:.4f} | {logistic:.4f} | {mlp:.4f} | {seconds:.1f} |")
    means = [statistics.mean(row[i] for row in rows) for i in (2, 3, 4)]
    lines.append(f"| mean | | {means[0]:.4f} | {means[1]:.4f} | {means[2]:.4f} | |")
    text = "\n".join(lines)
    print(text)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(text + "\n")
    return rows


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
