"""Your own table: TableDataModule reads CSV and .npz, scales on train only, maps labels, saves both in the
checkpoint; breast cancer from CSV reaches test accuracy 0.95; a bad table is one line and nothing else."""
import csv
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.table import TableDataModule, write_csv
from handgrad.cli import main

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
CONFIG = str(ROOT / "experiments" / "configs" / "breast_cancer.yaml")


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory):
    return write_csv("breast_cancer", tmp_path_factory.mktemp("table") / "breast_cancer.csv")


def write(path, header, rows):
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows([header, *rows])
    return str(path)


def test_scaling_is_fitted_on_the_training_split_and_labels_are_mapped(cancer_csv, capsys):
    data = TableDataModule(str(cancer_csv), target="target", seed=3)
    assert "'benign' -> 0, 'malignant' -> 1" in capsys.readouterr().out
    assert data.num_features == 30 and data.num_classes == 2
    torch.testing.assert_close(data.train_inputs.mean(0), torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train_inputs.std(0, unbiased=False), torch.ones(30), atol=1e-4, rtol=0)
    assert data.test_inputs.mean(0).abs().max() > 1e-3  # the test rows were not used for the statistics
    train, test = torch.bincount(data.train_targets) / len(data.train_targets), torch.bincount(data.test_targets) / len(data.test_targets)
    assert (train - test).abs().max() < 0.02  # stratified
    assert len(data.train_inputs) + len(data.val_inputs) + len(data.test_inputs) == 569


def test_npz_and_numeric_labels(tmp_path):
    generator = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", X=generator.normal(size=(60, 3)), y=np.repeat([3.5, -1.0, 7.0], 20))
    data = TableDataModule(str(tmp_path / "t.npz"), descent="stochastic")
    assert data.labels == [-1.0, 3.5, 7.0] and data.decode([2, 0]) == [7.0, -1.0]
    assert data.feature_names == ["x0", "x1", "x2"]


def test_the_checkpoint_carries_scaling_and_labels(cancer_csv, tmp_path):
    trained = TableDataModule(str(cancer_csv), target="target", seed=1)
    # a later table: fewer rows (other statistics), its labels seen in another order
    with open(cancer_csv, newline="") as file:
        header, *rows = list(csv.reader(file))
    later = TableDataModule(write(tmp_path / "later.csv", header, rows[300:]), target="target", seed=1)
    assert not np.allclose(later.mean, trained.mean)
    later.load_state_dict(trained.state_dict())
    assert np.allclose(later.mean, trained.mean) and later.labels == trained.labels
    raw = torch.tensor(later.values[later.split[2].numpy()])
    expected = (raw - torch.tensor(trained.mean)) / torch.tensor(trained.std)
    torch.testing.assert_close(later.test_inputs, expected.float())


def test_breast_cancer_from_csv_beats_095_over_three_seeds_and_predicts_original_labels(cancer_csv, tmp_path, capsys):
    from experiments.breast_cancer import handgrad_run

    accuracies = [handgrad_run(seed, cancer_csv, tmp_path / f"seed{seed}")[0] for seed in (1, 2, 3)]
    assert statistics.mean(accuracies) >= 0.95, accuracies
    best = tmp_path / "seed1" / "checkpoints" / "best.ckpt"
    capsys.readouterr()
    main(["predict", "--config", CONFIG, "--data.init_args.path", str(cancer_csv), "--data.init_args.seed", "1",
          "--trainer.default_root_dir", str(tmp_path / "seed1"), "--ckpt_path", str(best),
          "--trainer.enable_progress_bar", "false"])
    assert "scaling and labels from the checkpoint" in capsys.readouterr().out
    with open(tmp_path / "seed1" / "predictions.csv", newline="") as file:
        predicted = list(csv.DictReader(file))
    assert len(predicted) == 113 and {row["prediction"] for row in predicted} == {"benign", "malignant"}
    with open(cancer_csv, newline="") as file:
        truth = [row[-1] for row in list(csv.reader(file))[1:]]
    right = sum(truth[int(row["row"])] == row["prediction"] for row in predicted)
    assert right / len(predicted) == pytest.approx(accuracies[0], abs=1e-6)  # the test split, as labelled


HEADER = ["a", "b", "label"]
BAD_TABLES = [
    ("missing file", None, ["--data.init_args.path", "{dir}/nope.csv"], "path '{dir}/nope.csv': no such file"),
    ("unknown target", [[1, 2, "x"]] * 9 + [[1, 2, "y"]] * 9, ["--data.init_args.target", "kind"],
     "target 'kind' is not a column of {dir}/t.csv; its columns: a, b, label"),
    ("text feature", [[1, "red", "x"]] * 9 + [[1, "blue", "y"]] * 9, [],
     "feature columns must be numeric; not numeric: b (e.g. 'red')"),
    ("missing values", [[1, "", "x"], ["NA", 2, "y"], [1, "", "x"]] + [[1, 2, "y"]] * 9, [],
     "has 3 missing values, in columns a (1), b (2)"),
    ("one class", [[1, 2, "x"]] * 9, [], "the target 'label' holds one class only ('x')"),
    ("too few rows", [[1, 2, "x"], [1, 2, "y"]], [], "has 2 rows, fewer than the split needs"),
    ("too few rows to split", [[1, 2, "x"], [1, 2, "y"], [3, 4, "y"], [5, 6, "y"]], [],
     "fewer than the split needs: val_fraction 0.1 leaves the val split empty"),
]


@pytest.mark.parametrize("name, rows, args, message", BAD_TABLES, ids=[case[0] for case in BAD_TABLES])
def test_a_bad_table_is_one_line_and_nothing_is_written(tmp_path, capsys, name, rows, args, message):
    if rows is not None:
        write(tmp_path / "t.csv", HEADER, rows)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", CONFIG, "--data.init_args.path", str(tmp_path / "t.csv"),
              "--data.init_args.target", "label", *[a.format(dir=tmp_path) for a in args],
              "--trainer.default_root_dir", str(run_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert message.format(dir=tmp_path) in err[0]
    assert not run_dir.exists()
