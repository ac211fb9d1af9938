"""torchvision's MNIST as a LightningDataModule, with the same descent switch as the digits."""
from pathlib import Path

import torch

from datamodules.base import InMemoryDataModule
from datamodules.split import check_classes, keep_classes, stratified_split


class MNISTDataModule(InMemoryDataModule):
    """MNIST's 28x28 handwritten digits, flattened to 784 features in [0, 1].

    The official test set is the test split; validation is a stratified share of the
    official training set.

    Args:
        root: folder holding ``MNIST/raw`` (torchvision's layout). Default: 'data'.
        download: fetch the files when missing (needs internet). Default: False.
        descent: 'batch' | 'stochastic' | 'minibatch'. Default: 'minibatch'.
        batch_size: samples per update for 'minibatch'. Default: 64.
        classes: keep only these digits, relabelled 0..k-1. Default: None (all ten).
        val_fraction: share of the training set held out for validation. Default: 0.1.
        seed: seed of the split and of the shuffling. Default: 0.
        updates_per_step: parameter updates taken in one Lightning training step. Default: 64.
    """

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        descent: str = "minibatch",
        batch_size: int = 64,
        classes: list[int] | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        updates_per_step: int = 64,
    ):
        self.root, self.download = Path(root), download
        self.classes = check_classes("MNISTDataModule", classes, 10)
        self.val_fraction = val_fraction
        self.num_features, self.num_classes = 784, len(self.classes)
        super().__init__(descent, batch_size, seed, updates_per_step)

    def _read(self, train):
        from torchvision.datasets import MNIST

        try:
            dataset = MNIST(str(self.root), train=train, download=self.download)
        except RuntimeError as error:
            if self.download:
                raise
            raw = self.root / "MNIST" / "raw"
            raise FileNotFoundError(
                f"MNISTDataModule: root {str(self.root)!r} holds no MNIST files: none in {raw} (expected "
                f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte); "
                f"pass download=True (--data.init_args.download true) on a machine with internet, "
                f"or copy the files there"
            ) from error
        inputs = dataset.data.reshape(len(dataset.data), -1).to(torch.float32) / 255.0
        return keep_classes(inputs, dataset.targets.long(), self.classes)

    def load(self):
        inputs, targets = self._read(train=True)
        train, val, _ = stratified_split(targets, self.val_fraction, 0.0, self.seed)
        return (inputs[train], targets[train]), (inputs[val], targets[val]), self._read(train=False)
