"""scikit-learn's bundled 8x8 handwritten digits as a LightningDataModule (works offline)."""
import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from datamodules.descent import UpdateBlocks, check_descent
from datamodules.split import check_classes, shift_augment, stratified_split


class DigitsDataModule(L.LightningDataModule):
    """The 1,797 8x8 digit images of ``sklearn.datasets.load_digits``, flattened to 64 features in [0, 1].

    Args:
        descent: 'batch' (every sample in every update), 'stochastic' (one sample per update)
            or 'minibatch' (``batch_size`` samples per update). Default: 'minibatch'.
        batch_size: samples per update for 'minibatch'. Default: 32.
        classes: keep only these digits, relabelled 0..k-1 in the order given
            (``[0, 1, 2, 3]`` gives the four-digit network). Default: all ten.
        val_fraction: share of the data held out for validation. Default: 0.1.
        test_fraction: share of the data held out for testing. Default: 0.2.
        seed: seed of the stratified split and of the shuffling. Default: 0.
        shift_augment: add copies of each training image shifted by one pixel
            (up, down, left, right). Default: False.
        updates_per_step: parameter updates taken in one Lightning training step. Default: 64.
        chunk_size: largest number of samples in one forward pass; an update over more
            samples accumulates its gradient over chunks (bounded memory). Default: None (no limit).
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
        chunk_size: int | None = None,
    ):
        super().__init__()
        self.classes = check_classes("DigitsDataModule", classes, 10)
        self.descent, self.batch_size = descent, batch_size
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.shift_augment = shift_augment
        if isinstance(updates_per_step, bool) or not isinstance(updates_per_step, int) or updates_per_step < 1:
            raise ValueError(f"DigitsDataModule: updates_per_step must be an int >= 1, got {updates_per_step!r}")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"DigitsDataModule: chunk_size must be an int >= 1 or None, got {chunk_size!r}")
        self.updates_per_step, self.chunk_size = updates_per_step, chunk_size
        self.num_features = 64
        self.num_classes = len(self.classes)
        self._load()
        train_size = len(self.train_inputs)
        check_descent("DigitsDataModule", descent, batch_size, train_size)

    def _load(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        inputs = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # pixel values 0..16 -> [0, 1]
        targets = torch.tensor(digits.target, dtype=torch.long)
        keep = torch.isin(targets, torch.tensor(self.classes))
        inputs, targets = inputs[keep], targets[keep]
        relabel = torch.full((10,), -1, dtype=torch.long)
        relabel[torch.tensor(self.classes)] = torch.arange(len(self.classes))
        targets = relabel[targets]
        train, val, test = stratified_split(targets, self.val_fraction, self.test_fraction, self.seed)
        self.train_inputs, self.train_targets = inputs[train], targets[train]
        if self.shift_augment:
            self.train_inputs, self.train_targets = shift_augment(self.train_inputs, self.train_targets, self.image_shape)
        self.val_inputs, self.val_targets = inputs[val], targets[val]
        self.test_inputs, self.test_targets = inputs[test], targets[test]

    def train_dataloader(self):
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return UpdateBlocks(
            self.train_inputs, self.train_targets, self.descent, self.batch_size, self.updates_per_step,
            self.seed, rank=rank, world_size=world,
            epoch_fn=(lambda: trainer.current_epoch) if trainer is not None else None,
        )

    def _whole(self, inputs, targets):
        return DataLoader(TensorDataset(inputs, targets), batch_size=max(len(inputs), 1))

    def val_dataloader(self):
        return self._whole(self.val_inputs, self.val_targets)

    def test_dataloader(self):
        return self._whole(self.test_inputs, self.test_targets)

    def predict_dataloader(self):
        return DataLoader(TensorDataset(self.test_inputs), batch_size=max(len(self.test_inputs), 1))
