"""The descent switch: batch, stochastic and mini-batch gradient descent as one option.

Training data sits in memory as two tensors. Each epoch the loader yields *blocks*:
a block holds the samples of several consecutive updates, so that one Lightning
training step can take many parameter updates (Lightning's per-step cost would
otherwise dominate when each update sees one sample). The model code is the same
for all three variants; only the number of samples per update differs:

- ``batch``: every training sample in every update (one update per epoch);
- ``stochastic``: one sample per update, in a new random order every epoch;
- ``minibatch``: ``batch_size`` samples per update, reshuffled every epoch.
"""
import math

import torch

DESCENTS = ("batch", "stochastic", "minibatch")


def check_descent(owner, descent, batch_size, num_samples):
    """Raise a clear error for a descent setting that cannot work with this data."""
    if descent not in DESCENTS:
        raise ValueError(f"{owner}: descent must be one of {', '.join(DESCENTS)}; got {descent!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{owner}: batch_size must be an int >= 1, got {batch_size!r}")
    if descent == "minibatch" and batch_size > num_samples:
        raise ValueError(
            f"{owner}: batch_size {batch_size} is larger than the training set ({num_samples} samples)"
        )


def samples_per_update(descent, batch_size, num_samples):
    return {"batch": num_samples, "stochastic": 1, "minibatch": batch_size}[descent]


class UpdateBlocks:
    """Iterable of training blocks, one pass over the data per epoch.

    Each block is a dict ``{"inputs": (n, *features), "targets": (n,), "update_size": B}``:
    its rows, taken in order, form the block's updates of ``B`` samples each (the last
    update of an epoch may be smaller). Shuffling uses a generator seeded from
    ``(seed, epoch)``, so an epoch's order is reproducible, also after a resume.

    Args:
        inputs, targets: the training set.
        descent: 'batch' | 'stochastic' | 'minibatch'.
        batch_size: samples per update for 'minibatch'.
        updates_per_block: parameter updates in one block (one Lightning step).
        seed: seed of the shuffling.
        rank, world_size: this process's share of every update under data parallelism;
            each update's samples are split between the processes.
        epoch_fn: returns the current epoch (the trainer's); without it, epochs are counted here.
    """

    def __init__(self, inputs, targets, descent, batch_size, updates_per_block, seed, rank=0, world_size=1,
                 epoch_fn=None):
        self.inputs, self.targets = inputs, targets
        self.epoch_fn = epoch_fn
        self.epochs_started = 0
        self.descent = descent
        self.update_size = samples_per_update(descent, batch_size, len(inputs))
        self.updates_per_block = updates_per_block
        self.seed, self.rank, self.world_size = seed, rank, world_size

    @property
    def updates_per_epoch(self):
        return math.ceil(len(self.inputs) / self.update_size)

    def __len__(self):
        return math.ceil(self.updates_per_epoch / self.updates_per_block)

    def order(self, epoch):
        if self.descent == "batch":
            return None  # every update sees every sample: order does not matter
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.inputs), generator=generator)

    def __iter__(self):
        epoch = self.epoch_fn() if self.epoch_fn is not None else self.epochs_started
        self.epochs_started += 1
        order = self.order(epoch)
        inputs, targets = (self.inputs, self.targets) if order is None else (self.inputs[order], self.targets[order])
        rows_per_block = self.update_size * self.updates_per_block
        for start in range(0, len(inputs), rows_per_block):
            block_inputs = inputs[start:start + rows_per_block]
            block_targets = targets[start:start + rows_per_block]
            yield self._share(block_inputs, block_targets)

    def _share(self, inputs, targets):
        """This process's rows of every update in the block (all rows on one process)."""
        if self.world_size == 1:
            return {"inputs": inputs, "targets": targets, "update_size": self.update_size}
        size = self.update_size
        if size % self.world_size:
            raise ValueError(
                f"UpdateBlocks: {size} samples per update do not split evenly over {self.world_size} processes"
            )
        share = size // self.world_size
        rows = torch.arange(len(inputs)).view(-1, size) if len(inputs) % size == 0 else None
        if rows is None:
            raise ValueError(
                f"UpdateBlocks: the training set does not split into whole updates of {size} samples, "
                f"which data parallelism needs"
            )
        mine = rows[:, self.rank * share:(self.rank + 1) * share].reshape(-1)
        return {"inputs": inputs[mine], "targets": targets[mine], "update_size": share}
