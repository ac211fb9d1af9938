"""Your own table as a LightningDataModule: a CSV file (or a .npz holding X and y), with the same
stratified split and descent switch as the digits.

To run:  handgrad fit --config experiments/configs/breast_cancer.yaml
         handgrad fit --config experiments/configs/breast_cancer.yaml --data.init_args.path my.csv --data.init_args.target label

The features are standardised with the mean and standard deviation of the training split only
(the validation and test rows must not leak into what the network is fed). The class labels,
of any type ('benign', 'yes', 3.5), are mapped to 0..k-1 in sorted order and the mapping is
printed. Both the scaling and the mapping are saved in every checkpoint (``state_dict``), so
that ``handgrad test`` and ``handgrad predict`` from it scale new rows as in training and
``predict`` writes the original labels.
"""
import csv
from pathlib import Path

import numpy as np
import torch

from datamodules.base import InMemoryDataModule
from datamodules.split import stratified_split

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}
BUNDLED = {"breast_cancer": "load_breast_cancer", "iris": "load_iris", "wine": "load_wine"}


def bundled_table(name):
    """(columns, rows) of one of scikit-learn's bundled tables, the target last as the column 'target'
    holding the class names ('malignant', 'benign' for breast_cancer)."""
    from sklearn import datasets

    data = getattr(datasets, BUNDLED[name])()
    columns = [str(feature) for feature in data.feature_names] + ["target"]
    rows = [[repr(float(value)) for value in features] + [str(data.target_names[label])]
            for features, label in zip(data.data, data.target)]
    return columns, rows


def write_csv(name, path):
    """Write the bundled table ``name`` to the CSV file ``path``; return the path."""
    columns, rows = bundled_table(name)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _sorted_labels(values):
    """The distinct labels, in numeric order when they all read as numbers, else in text order."""
    distinct = set(values)
    try:
        return sorted(distinct, key=float)
    except (TypeError, ValueError):
        return sorted(distinct, key=str)


class TableDataModule(InMemoryDataModule):
    """A table of numbers with one class label per row.

    Args:
        path: a .csv file with a header row, a .npz file holding arrays ``X`` (rows, features) and
            ``y`` (rows,), or ``sklearn:<name>`` for a table bundled with scikit-learn
            (breast_cancer, iris, wine; its label column is 'target').
        target: the label column of a CSV (or a bundled table). Default: None (required for CSV).
        features: the feature columns. Default: None (all columns but the target).
        descent: 'batch' | 'stochastic' | 'minibatch'. Default: 'minibatch'.
        batch_size: samples per update for 'minibatch'. Default: 32.
        val_fraction: share of the rows held out for validation (stratified). Default: 0.1.
        test_fraction: share of the rows held out for testing (stratified). Default: 0.2.
        seed: seed of the split and of the shuffling. Default: 0.
        updates_per_step: parameter updates taken in one Lightning training step. Default: 64.
    """

    def __init__(
        self,
        path: str,
        target: str | None = None,
        features: list[str] | None = None,
        descent: str = "minibatch",
        batch_size: int = 32,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        updates_per_step: int = 64,
    ):
        self.path, self.target, self.val_fraction, self.test_fraction = str(path), target, val_fraction, test_fraction
        self.feature_names, self.values, raw_labels = self._read(features)
        self.labels = _sorted_labels(raw_labels)
        if len(self.labels) < 2:
            raise ValueError(f"TableDataModule: the target {self._target_name()} holds one class only "
                             f"({self.labels[0]!r}); a classifier needs at least two")
        index = {label: i for i, label in enumerate(self.labels)}
        self.all_targets = torch.tensor([index[label] for label in raw_labels], dtype=torch.long)
        self.num_features, self.num_classes = len(self.feature_names), len(self.labels)
        super().__init__(descent, batch_size, seed, updates_per_step)
        print(f"TableDataModule: {len(self.values)} rows, {self.num_features} features; labels "
              + ", ".join(f"{label!r} -> {i}" for i, label in enumerate(self.labels)))

    def _target_name(self):
        return repr(self.target) if self.target is not None else "y"

    # ---- reading -------------------------------------------------------------------------------

    def _read(self, features):
        """(feature names, values (rows, features) float64 array, labels as read) after every check."""
        if self.path.startswith("sklearn:"):
            name = self.path.removeprefix("sklearn:")
            if name not in BUNDLED:
                raise ValueError(f"TableDataModule: path {self.path!r} names no bundled table; "
                                 f"expected one of {', '.join('sklearn:' + n for n in BUNDLED)}")
            return self._from_columns(*bundled_table(name), features)
        path = Path(self.path)
        if not path.is_file():
            raise FileNotFoundError(f"TableDataModule: path {self.path!r}: no such file")
        if path.suffix == ".npz":
            return self._read_npz(path, features)
        with open(path, newline="") as file:
            rows = list(csv.reader(file))
        if not rows:
            raise ValueError(f"TableDataModule: {self.path} is empty; expected a header row and data rows")
        return self._from_columns([name.strip() for name in rows[0]], rows[1:], features)

    def _read_npz(self, path, features):
        if self.target is not None or features is not None:
            raise ValueError("TableDataModule: a .npz table has arrays X and y, no named columns; "
                             "remove target and features")
        with np.load(path, allow_pickle=False) as arrays:
            if "X" not in arrays or "y" not in arrays:
                raise ValueError(f"TableDataModule: {self.path} must hold arrays 'X' and 'y', holds {sorted(arrays)}")
            values, labels = arrays["X"], arrays["y"]
        if values.ndim != 2 or labels.ndim != 1 or len(values) != len(labels):
            raise ValueError(f"TableDataModule: {self.path}: X must be (rows, features) and y (rows,), "
                             f"got X {values.shape} and y {labels.shape}")
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"TableDataModule: {self.path}: X must be numeric, got dtype {values.dtype}")
        values = values.astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            columns = sorted(set(np.nonzero(bad)[1].tolist()))
            raise ValueError(f"TableDataModule: {self.path} has {int(bad.sum())} missing or infinite values in X, "
                             f"in columns {', '.join(f'x{c}' for c in columns)}; fill or drop them first")
        self._check_rows(len(values))
        return [f"x{i}" for i in range(values.shape[1])], values, labels.tolist()

    def _from_columns(self, columns, rows, features):
        if self.target is None:
            raise ValueError(f"TableDataModule: target is required: name the label column, one of {', '.join(columns)}")
        if self.target not in columns:
            raise ValueError(f"TableDataModule: target {self.target!r} is not a column of {self.path}; "
                             f"its columns: {', '.join(columns)}")
        if features is None:
            features = [name for name in columns if name != self.target]
        unknown = [name for name in features if name not in columns]
        if unknown or self.target in features or not features:
            problem = (f"unknown columns {', '.join(unknown)}" if unknown else
                       f"the target {self.target!r} among them" if features else "none given")
            raise ValueError(f"TableDataModule: features: {problem}; the columns of {self.path}: {', '.join(columns)}")
        rows = [row for row in rows if any(cell.strip() for cell in row)]  # blank lines
        short = [i for i, row in enumerate(rows) if len(row) != len(columns)]
        if short:
            raise ValueError(f"TableDataModule: {self.path}: row {short[0] + 2} has {len(rows[short[0]])} cells, "
                             f"the header {len(columns)}")
        where = {name: columns.index(name) for name in features + [self.target]}
        missing = {name: sum(row[where[name]].strip().lower() in MISSING for row in rows) for name in where}
        missing = {name: count for name, count in missing.items() if count}
        if missing:
            raise ValueError(f"TableDataModule: {self.path} has {sum(missing.values())} missing values, in columns "
                             + ", ".join(f"{name} ({count})" for name, count in missing.items())
                             + "; fill or drop them first")
        not_numeric = {}
        for name in features:
            for row in rows:
                try:
                    float(row[where[name]])
                except ValueError:
                    not_numeric[name] = row[where[name]]
                    break
        if not_numeric:
            raise ValueError("TableDataModule: feature columns must be numeric; not numeric: "
                             + ", ".join(f"{name} (e.g. {value!r})" for name, value in not_numeric.items())
                             + "; encode them as numbers or leave them out with features: [...]")
        self._check_rows(len(rows))
        values = np.array([[float(row[where[name]]) for name in features] for row in rows], dtype=np.float64)
        return list(features), values, [row[where[self.target]].strip() for row in rows]

    def _check_rows(self, count):
        if count < 3:
            raise ValueError(f"TableDataModule: {self.path} has {count} rows, fewer than the split needs "
                             f"(at least one each for train, val and test)")

    # ---- split and scaling ---------------------------------------------------------------------

    def load(self):
        train, val, test = stratified_split(self.all_targets, self.val_fraction, self.test_fraction, self.seed)
        for name, part, fraction in (("val", val, self.val_fraction), ("test", test, self.test_fraction)):
            if fraction > 0 and len(part) == 0:
                raise ValueError(f"TableDataModule: {len(self.values)} rows are fewer than the split needs: "
                                 f"{name}_fraction {fraction} leaves the {name} split empty")
        missing = sorted(set(range(self.num_classes)) - set(self.all_targets[train].tolist()))
        if missing:
            raise ValueError(f"TableDataModule: {len(self.values)} rows are fewer than the split needs: the train split "
                             f"gets no row of class {', '.join(repr(self.labels[i]) for i in missing)}")
        self.split = (train, val, test)
        train_values = self.values[train.numpy()]
        self.mean = train_values.mean(0)
        std = train_values.std(0)
        self.std = np.where(std > 0, std, 1.0)  # a constant column stays 0 after centring
        return self._scaled_splits()

    def _scaled_splits(self):
        inputs = torch.tensor((self.values - self.mean) / self.std, dtype=torch.float32)
        return tuple((inputs[part], self.all_targets[part]) for part in self.split)

    @property
    def predict_rows(self):
        """The table's row numbers (from 0, after the header) of the rows predict_dataloader yields: the test split."""
        return self.split[2].tolist()

    def decode(self, indices):
        """The original labels of class indices."""
        return [self.labels[int(i)] for i in indices]

    def state_dict(self):
        """Saved in every checkpoint: what test and predict need to treat rows as training did."""
        return {"features": list(self.feature_names), "labels": list(self.labels),
                "mean": self.mean.tolist(), "std": self.std.tolist()}

    def load_state_dict(self, state):
        if list(state["features"]) != list(self.feature_names):
            raise ValueError(f"TableDataModule: the checkpoint was trained on the features {state['features']}, "
                             f"this table has {self.feature_names}")
        unknown = [label for label in self.labels if label not in state["labels"]]
        if unknown:
            raise ValueError(f"TableDataModule: this table holds labels the checkpoint never saw: {unknown}; "
                             f"it knows {state['labels']}")
        saved = {label: i for i, label in enumerate(state["labels"])}
        self.all_targets = torch.tensor([saved[self.labels[i]] for i in self.all_targets.tolist()], dtype=torch.long)
        self.labels = list(state["labels"])
        self.mean, self.std = np.array(state["mean"]), np.array(state["std"])
        (self.train_inputs, self.train_targets), (self.val_inputs, self.val_targets), (
            self.test_inputs, self.test_targets) = self._scaled_splits()
        print("TableDataModule: scaling and labels from the checkpoint; labels "
              + ", ".join(f"{label!r} -> {i}" for i, label in enumerate(self.labels)))
