"""The datamodules: digits split and subsets, MNIST from IDX files, and the descent switch."""
import gzip
import struct

import pytest
import torch

from datamodules import DigitsDataModule, MNISTDataModule
from datamodules.descent import UpdateBlocks


def test_digits_split_is_stratified_deterministic_and_scaled():
    a, b = DigitsDataModule(seed=3), DigitsDataModule(seed=3)
    assert torch.equal(a.train_inputs, b.train_inputs) and torch.equal(a.test_targets, b.test_targets)
    assert len(a.train_inputs) + len(a.val_inputs) + len(a.test_inputs) == 1797
    assert 0.0 <= float(a.train_inputs.min()) and float(a.train_inputs.max()) <= 1.0
    counts = torch.bincount(a.test_targets, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # 20% of each class (174..183 images)
    c = DigitsDataModule(seed=4)
    assert not torch.equal(a.test_inputs, c.test_inputs)


def test_digits_class_subset_is_relabelled():
    data = DigitsDataModule(classes=[3, 0, 1, 2])
    assert set(data.train_targets.tolist()) == {0, 1, 2, 3}
    assert data.num_classes == 4
    full = DigitsDataModule()
    # digit 3 became label 0: its images are those labelled 3 in the full set
    assert len(data.train_inputs) < len(full.train_inputs) / 2


def test_shift_augment_adds_four_shifted_copies():
    plain, shifted = DigitsDataModule(), DigitsDataModule(shift_augment=True)
    assert len(shifted.train_inputs) == 5 * len(plain.train_inputs)
    assert torch.equal(shifted.train_inputs[: len(plain.train_inputs)], plain.train_inputs)
    image = plain.train_inputs[0].view(8, 8)
    down = shifted.train_inputs[len(plain.train_inputs)].view(8, 8)
    assert torch.equal(down[1:], image[:-1]) and down[0].abs().sum() == 0


def blocks_of(descent, batch_size=10, updates=4, n=23, epoch=0):
    inputs = torch.arange(n, dtype=torch.float32)[:, None]
    blocks = UpdateBlocks(inputs, torch.arange(n), descent, batch_size, updates, seed=0, epoch_fn=lambda: epoch)
    updates_seen = []
    for block in blocks:
        rows, size = block["targets"], block["update_size"]
        updates_seen += [rows[i:i + size].tolist() for i in range(0, len(rows), size)]
    return blocks, updates_seen


def test_stochastic_descent_is_one_sample_per_update_reshuffled_each_epoch():
    blocks, first = blocks_of("stochastic")
    _, second = blocks_of("stochastic", epoch=1)
    assert all(len(u) == 1 for u in first) and len(first) == 23
    assert sorted(sum(first, [])) == list(range(23))
    assert first != second and sorted(sum(second, [])) == list(range(23))
    assert len(blocks) == 6  # ceil(23 updates / 4 per block)


def test_minibatch_descent_uses_batch_size_and_covers_the_data_once():
    _, updates = blocks_of("minibatch", batch_size=10)
    assert [len(u) for u in updates] == [10, 10, 3]
    assert sorted(sum(updates, [])) == list(range(23))


def test_batch_descent_uses_every_sample_in_every_update():
    _, updates = blocks_of("batch")
    assert updates == [list(range(23))]


def test_data_parallel_share_splits_each_update_between_processes():
    inputs, targets = torch.zeros(8, 1), torch.arange(8)
    shares = [next(iter(UpdateBlocks(inputs, targets, "batch", 1, 1, 0, rank=r, world_size=2))) for r in (0, 1)]
    assert sorted(shares[0]["targets"].tolist() + shares[1]["targets"].tolist()) == list(range(8))
    assert shares[0]["update_size"] == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(descent="sgd"), "descent must be one of batch, stochastic, minibatch; got 'sgd'"),
        (dict(batch_size=0), "batch_size must be an int >= 1, got 0"),
        (dict(batch_size=100000), "batch_size 100000 is larger than the training set"),
        (dict(classes=[]), "classes must be a non-empty list"),
        (dict(classes=[1, 11]), "classes holds 11"),
        (dict(classes=[2, 2]), "must not repeat"),
        (dict(classes=[4]), "at least two labels"),
        (dict(updates_per_step=0), "updates_per_step must be an int >= 1"),
    ],
)
def test_bad_datamodule_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as info:
        DigitsDataModule(**kwargs)
    assert message in str(info.value)


def write_idx(path, array, magic):
    with gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for size in array.shape:
            f.write(struct.pack(">I", size))
        f.write(array.numpy().tobytes())


def make_mnist(root, n_train=60, n_test=20):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=generator, dtype=torch.uint8)
        labels = (torch.arange(n) % 10).to(torch.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 0x0803)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 0x0801)


def test_mnist_reads_idx_files(tmp_path):
    make_mnist(tmp_path)
    data = MNISTDataModule(root=str(tmp_path), batch_size=5, val_fraction=0.2)
    assert data.num_features == 784 and len(data.test_inputs) == 20
    assert len(data.train_inputs) == 50 and len(data.val_inputs) == 10  # one of the six of each digit
    assert 0.0 <= float(data.train_inputs.min()) and float(data.train_inputs.max()) <= 1.0


def test_mnist_without_files_says_where_they_go(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNISTDataModule(root=str(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "download=True" in message
