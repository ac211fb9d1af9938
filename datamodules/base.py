"""What the datamodules share: tensors in memory, the descent switch, whole-set eval loaders."""
import lightning as L

from datamodules.descent import UpdateBlocks, check_data_parallel, check_descent, samples_per_update


class OneBatch:
    """An iterable holding one (inputs, targets) batch, or none for an empty set.

    Not a list: Lightning would read a list as several loaders. Not a DataLoader: under
    data parallelism Lightning would add a DistributedSampler, which repeats samples to
    even out the processes' shares.
    """

    def __init__(self, inputs, targets):
        self.batches = [(inputs, targets)] if len(inputs) else []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class InMemoryDataModule(L.LightningDataModule):
    """Base of the datamodules: a subclass's ``load()`` returns the train, val and test
    (inputs, targets) pairs; training reads them through the descent switch.

    Args:
        descent: 'batch' | 'stochastic' | 'minibatch'.
        batch_size: samples per update for 'minibatch'.
        seed: seed of the split and of the shuffling.
        updates_per_step: parameter updates taken in one Lightning training step.
    """

    num_features: int
    num_classes: int

    def __init__(self, descent, batch_size, seed, updates_per_step):
        super().__init__()
        owner = type(self).__name__
        if isinstance(updates_per_step, bool) or not isinstance(updates_per_step, int) or updates_per_step < 1:
            raise ValueError(f"{owner}: updates_per_step must be an int >= 1, got {updates_per_step!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
            # the shuffling seeds a generator with seed * 1_000_003 + epoch, which must fit in 64 bits
            raise ValueError(f"{owner}: seed must be an int in [0, 2**32 - 1], got {seed!r}")
        self.descent, self.batch_size, self.seed, self.updates_per_step = descent, batch_size, seed, updates_per_step
        (self.train_inputs, self.train_targets), (self.val_inputs, self.val_targets), (
            self.test_inputs, self.test_targets) = self.load()
        check_descent(owner, descent, batch_size, len(self.train_inputs))

    def load(self):
        raise NotImplementedError

    def check_data_parallel(self, world_size):
        """Raise a clear error, before any process starts, when the updates cannot be shared by ``world_size``."""
        size = samples_per_update(self.descent, self.batch_size, len(self.train_inputs))
        check_data_parallel(type(self).__name__, self.descent, size, world_size)

    def train_dataloader(self):
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return UpdateBlocks(
            self.train_inputs, self.train_targets, self.descent, self.batch_size, self.updates_per_step,
            self.seed, rank=rank, world_size=world,
            epoch_fn=(lambda: trainer.current_epoch) if trainer is not None else None,
        )

    def _whole(self, inputs, targets):
        """The whole set as one batch: evaluation needs no descent, only one forward pass.

        Under data parallelism each process gets every world_size-th sample, and the model
        weights each process's metrics by its sample count (see OneBatch).
        """
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            mine = slice(trainer.global_rank, None, trainer.world_size)
            inputs, targets = inputs[mine], targets[mine]
        return OneBatch(inputs, targets)

    def val_dataloader(self):
        return self._whole(self.val_inputs, self.val_targets)

    def test_dataloader(self):
        return self._whole(self.test_inputs, self.test_targets)

    def predict_dataloader(self):
        return self._whole(self.test_inputs, self.test_targets)
