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


def check_data_parallel(owner, descent, update_size, world_size):
    """Every process needs a sample of every full update; a short last update may leave one without."""
    if world_size > 1 and update_size < world_size:
        raise ValueError(
            f"{owner}: {descent} descent takes {update_size} sample(s) per update, fewer than the {world_size} "
            f"processes, so some process would never get a sample; use minibatch descent with "
            f"batch_size >= {world_size}, or fewer processes"
        )


class UpdateBlocks:
    """Iterable of training blocks, one pass over the data per epoch; resumable mid-epoch.

    Each block is a dict ``{"inputs": (n, *features), "targets": (n,), "update_size": B,
    "num_updates": k}``: its rows, taken in order, form the block's ``k`` updates of ``B``
    samples each (the last update of an epoch may be smaller, even empty on some process).
    Shuffling uses a generator seeded from ``(seed, epoch)``, so an epoch's order is
    reproducible, also after a resume.

    ``state_dict()`` records the epoch and how many of its blocks were handed out;
    after ``load_state_dict()`` the next pass over that epoch skips them. Lightning saves
    and restores this state with its checkpoints (its fit loop looks for these two methods
    on the train loader), so a run killed mid-epoch resumes at the block it had reached.
    The count is exact because Lightning does not prefetch from a loader that has a length.

    A block stopped part-way (Ctrl-C, ``handgrad.interrupt``) is recorded by ``stop_within_block``:
    the state then also holds ``updates_taken`` and the losses of those updates, and the next pass
    serves that block again with ``"first_update"`` and ``"losses_taken"`` set, so that the model
    takes only its remaining updates and logs the whole block's losses.

    Args:
        inputs, targets: the training set.
        descent: 'batch' | 'stochastic' | 'minibatch'.
        batch_size: samples per update for 'minibatch'.
        updates_per_block: parameter updates in one block (one Lightning step).
        seed: seed of the shuffling.
        rank, world_size: this process's share of every update under data parallelism:
            the update's samples are dealt out in turn (sample i of an update goes to
            process i mod world_size), so shares differ by at most one sample; the model
            averages gradients over all processes' samples (``Classifier``), which makes
            every update the same as on one process.
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
        check_data_parallel("UpdateBlocks", descent, self.update_size, world_size)
        self.epoch, self.blocks_served = None, 0  # the pass in progress (or last finished)
        self._resume = None  # (epoch, blocks to skip, partial block or None) from load_state_dict
        self._partial = None  # (updates taken, their losses) of a block stopped part-way

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

    def stop_within_block(self, updates_taken, losses):
        """Record that the block served last was stopped after ``updates_taken`` of its updates,
        whose losses are ``losses`` (a 1-d tensor); ``state_dict()`` then carries both."""
        self._partial = (int(updates_taken), torch.as_tensor(losses, dtype=torch.float32).detach().cpu())

    def state_dict(self):
        """Where the loader stands: plain ints (and a tensor of losses for a block stopped part-way),
        so a checkpoint holding them loads with weights_only=True."""
        state = {"epoch": self.epoch, "blocks_served": self.blocks_served, "epochs_started": self.epochs_started,
                 "num_blocks": len(self)}
        if self._partial is not None:
            state["updates_taken"], state["losses_taken"] = self._partial
        return state

    def load_state_dict(self, state):
        expected = {"epoch", "blocks_served", "epochs_started", "num_blocks"}
        partial = {"updates_taken", "losses_taken"}
        if not isinstance(state, dict) or set(state) not in (expected, expected | partial):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"UpdateBlocks: load_state_dict expects a dict with keys {sorted(expected)}, got {got}")
        if state["num_blocks"] != len(self):
            raise ValueError(
                f"UpdateBlocks: the saved loader had {state['num_blocks']} blocks per epoch, this one has {len(self)}; "
                f"resume with the descent, batch_size, updates_per_step and data of the interrupted run"
            )
        self.epochs_started = state["epochs_started"]
        self.epoch, self.blocks_served = state["epoch"], state["blocks_served"]
        partial = (state["updates_taken"], state["losses_taken"]) if "updates_taken" in state else None
        self._resume = (state["epoch"], state["blocks_served"], partial)

    def __iter__(self):
        # a generator: this body runs at the first next(), when the trainer's epoch is the one being trained
        epoch = self.epoch_fn() if self.epoch_fn is not None else self.epochs_started
        skip, partial = 0, None
        if self._resume is not None:
            resume_epoch, served, partial = self._resume
            self._resume = None
            if partial is not None:  # the block stopped part-way is served again, for its remaining updates
                served -= 1
            # a state saved after an epoch's last block resumes at the next epoch: nothing to skip;
            # counting epochs here (no trainer), the next pass is the interrupted one
            if served < len(self) and (resume_epoch == epoch or self.epoch_fn is None):
                epoch, skip = resume_epoch, served
            else:
                partial = None
        self._partial = None
        self.epochs_started = max(self.epochs_started, epoch + 1)
        self.epoch, self.blocks_served = epoch, skip
        order = self.order(epoch)
        inputs, targets = (self.inputs, self.targets) if order is None else (self.inputs[order], self.targets[order])
        rows_per_block = self.update_size * self.updates_per_block
        for start in range(skip * rows_per_block, len(inputs), rows_per_block):
            block_inputs = inputs[start:start + rows_per_block]
            block_targets = targets[start:start + rows_per_block]
            self.blocks_served += 1  # counted before the block is handed out: a checkpoint taken during its step
            block = self._share(block_inputs, block_targets)  # records it as served
            if partial is not None:
                block["first_update"], block["losses_taken"] = partial
                partial = None
            self._partial = None
            yield block

    def _share(self, inputs, targets):
        """This process's rows of every update in the block (all rows on one process)."""
        size = self.update_size
        num_updates = math.ceil(len(inputs) / size)
        if self.world_size == 1:
            return {"inputs": inputs, "targets": targets, "update_size": size, "num_updates": num_updates}
        # sample i of each update goes to process i mod world_size; a short last update gets a share no
        # larger than a full one's, so the rows still slice into updates of the full share
        position = torch.arange(len(inputs)) % size
        mine = position % self.world_size == self.rank
        share = len(range(self.rank, size, self.world_size))
        return {"inputs": inputs[mine], "targets": targets[mine], "update_size": share, "num_updates": num_updates}
