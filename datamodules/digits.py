"""scikit-learn's bundled 8x8 handwritten digits as a LightningDataModule (works offline)."""
import torch

from datamodules.base import InMemoryDataModule
from datamodules.split import check_classes, keep_classes, shift_augment, stratified_split


class DigitsDataModule(InMemoryDataModule):
    """The 1,797 8x8 digit images of ``sklearn.datasets.load_digits``, flattened to 64 features in [0, 1].

    Args:
        descent: 'batch' (every sample in every update), 'stochastic' (one sample per update)
            or 'minibatch' (``batch_size`` samples per update). Default: 'minibatch'.
        batch_size: samples per update for 'minibatch'. Default: 32.
        classes: keep only these digits, relabelled 0..k-1 in the order given
            (``[0, 1, 2, 3]`` gives the four-digit network). Default: None (all ten).
        val_fraction: share of the data held out for validation (stratified). Default: 0.1.
        test_fraction: share of the data held out for testing (stratified). Default: 0.2.
        seed: seed of the split and of the shuffling. Default: 0.
        shift_augment: add copies of each training image shifted by one pixel
            (up, down, left, right). Default: False.
        updates_per_step: parameter updates taken in one Lightning training step. Default: 64.
    """

    image_shape = (8, 8)

    def __init__(
        self,
        descent: str = "minibatch",
        batch_size: int = 32,
        classes: list[int] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        shift_augment: bool = False,
        updates_per_step: int = 64,
    ):
        self.classes = check_classes("DigitsDataModule", classes, 10)
        self.val_fraction, self.test_fraction, self.shift_augment = val_fraction, test_fraction, shift_augment
        self.num_features, self.num_classes = 64, len(self.classes)
        super().__init__(descent, batch_size, seed, updates_per_step)

    def load(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        inputs = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # pixel values 0..16 -> [0, 1]
        targets = torch.tensor(digits.target, dtype=torch.long)
        inputs, targets = keep_classes(inputs, targets, self.classes)
        train, val, test = stratified_split(targets, self.val_fraction, self.test_fraction, self.seed)
        train_inputs, train_targets = inputs[train], targets[train]
        if self.shift_augment:
            train_inputs, train_targets = shift_augment(train_inputs, train_targets, self.image_shape)
        return (train_inputs, train_targets), (inputs[val], targets[val]), (inputs[test], targets[test])
