"""Checkpoints that are safe to load and safe to be killed while written.

Loading: a checkpoint is a pickle, and unpickling can run any code the file names. handgrad
only ever loads with ``torch.load(weights_only=True)``, which accepts tensors and plain
values (dicts, lists, str, numbers) and refuses everything else before it runs. handgrad's
own checkpoints hold nothing else: the hyperparameters the CLI saves are its parsed config,
the loader state is ints, the optimizers' state is tensors and ints.

Writing: Lightning writes a checkpoint through fsspec, which stages it in the system temp
folder and then moves it into place; when that folder is on another filesystem the move is a
copy, so a kill mid-copy leaves a truncated ``last.ckpt``. ``SafeCheckpointIO`` writes next
to the target, syncs the bytes to disk, then renames over the target (``os.replace``, atomic
on POSIX): a reader sees the old checkpoint or the new one, never half of one.

This module is part of handgrad's Lightning layer (with lightning.py and cli.py).
"""
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path

import torch
from lightning.fabric.plugins import TorchCheckpointIO


class CheckpointError(ValueError):
    """A checkpoint that handgrad will not load: missing, unreadable, or holding more than data."""


def load_checkpoint(path, map_location=None):
    """The checkpoint at ``path``, loaded with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: one line naming the file and what is wrong with it: no such file,
            a pickled object other than tensors and plain values (refused before it runs),
            or a truncated or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: no checkpoint file at {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))  # torch names the refused callable or class
        if found is None:  # pickle opcodes torch.save never writes: a plain pickle, or not a pickle at all
            raise CheckpointError(
                f"ckpt_path: {path} is not a readable checkpoint (not a file written by torch.save); "
                f"refused without running any of it"
            ) from None
        raise CheckpointError(
            f"ckpt_path: {path} holds a pickled {found.group(1)}, not only tensors and plain values; refused "
            f"without running it (handgrad loads checkpoints with torch.load(weights_only=True))"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        # torch's own words for a broken zip; an empty file or a non-torch file says little itself
        reason = {EOFError: "the file ends early", KeyError: "not a file written by torch.save"}.get(
            type(error), str(error).split(".")[0].strip())
        raise CheckpointError(
            f"ckpt_path: {path} is not a readable checkpoint (truncated or corrupt: {reason})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path: {path} is not a Lightning checkpoint (no 'state_dict' entry)")
    return checkpoint


def atomic_save(checkpoint, path):
    """``torch.save`` to a temporary file beside ``path``, synced, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        # an exception (not a kill) mid-write: the target is untouched; drop the partial file
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)  # the rename itself survives a power cut


def _sync_directory(folder):
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform can open a folder; the rename is still atomic
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint plugin, writing atomically and loading only tensors and plain values.

    The handgrad CLI installs it on every Trainer (``--trainer.plugins`` may name another).
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError(
                f"SafeCheckpointIO: storage_options is not supported, got {storage_options!r}"
            )
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        if weights_only is False:
            raise CheckpointError(
                "SafeCheckpointIO: weights_only=False was asked for; handgrad loads only tensors and plain values"
            )
        return load_checkpoint(path, map_location=map_location)
