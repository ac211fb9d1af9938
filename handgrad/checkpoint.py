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
on POSIX): a reader sees the old checkpoint or the new one, never half of one. The bytes are
serialized in memory first, so that a full disk is an ``OSError`` (ENOSPC) naming the file, not
torch's "unexpected pos" RuntimeError from inside its zip writer; on any error the temporary
file is removed and the target keeps its previous checkpoint.

``LastCheckpoint`` keeps ``last.ckpt`` the latest state: Lightning's ``ModelCheckpoint(save_last=True)``
with a monitor writes ``last.ckpt`` only when it writes a top-k checkpoint, i.e. when the monitored
metric improved.

This module is part of handgrad's Lightning layer (with lightning.py and cli.py).
"""
import errno
import io
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint


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
    """``torch.save`` to a temporary file beside ``path``, synced, then renamed over ``path``.

    Raises:
        OSError: the operating system's error (no space, no permission, a path that is a file),
            with ``filename`` set to ``path``; the previous file at ``path`` is untouched.
    """
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write(path, lambda file: file.write(buffer.getbuffer()))


def atomic_write(path, write):
    """``write(file)`` into a temporary file beside ``path``, synced, then renamed over ``path``: the
    file at ``path`` is the old one or the new one, never half of one. Used for checkpoints, and by
    the metrics log and the figures.

    Raises:
        OSError: as the operating system said it, with ``filename`` set to ``path``; the temporary
            file is removed and the previous file at ``path`` is untouched.
    """
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException as error:
        # an exception (not a kill) mid-write: the target is untouched; drop the partial file
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(path)) from error
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
    ``newest`` and ``loaded`` are (path, epoch, global step) of the last checkpoint it wrote and
    read (a resume), or None.
    """

    def __init__(self):
        super().__init__()
        self.newest = self.loaded = None

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError(
                f"SafeCheckpointIO: storage_options is not supported, got {storage_options!r}"
            )
        atomic_save(checkpoint, path)
        self.newest = (str(path), checkpoint.get("epoch"), checkpoint.get("global_step"))

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        if weights_only is False:
            raise CheckpointError(
                "SafeCheckpointIO: weights_only=False was asked for; handgrad loads only tensors and plain values"
            )
        checkpoint = load_checkpoint(path, map_location=map_location)
        self.loaded = (str(path), checkpoint.get("epoch"), checkpoint.get("global_step"))
        return checkpoint


# errors of writing a file (a checkpoint, a log, a figure, the saved config): said in one line
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR,
                errno.EISDIR, errno.EFBIG, errno.EIO, errno.ENAMETOOLONG}


def is_write_error(error):
    return isinstance(error, OSError) and error.errno in WRITE_ERRORS


def write_error_line(error, checkpoint_io):
    """One line for a failed write: the path, the operating system's reason, the checkpoint that
    is intact (the newest ``checkpoint_io`` wrote, else the failed checkpoint's previous file, else
    the one the run resumed from) and what to do."""
    name = errno.errorcode.get(error.errno, str(error.errno))
    where = f"{error.filename}: " if error.filename else ""
    line = f"could not write {where}{error.strerror or error} ({name}); "
    intact = checkpoint_io.newest or _previous_checkpoint(error.filename) or checkpoint_io.loaded
    if intact is None:
        line += "no checkpoint of this run was written"
    else:
        path, epoch, step = intact
        line += f"the checkpoint {path} (epoch {epoch}, update {step}) is intact"
    return line + "; free space or choose a writable --trainer.default_root_dir, then resume with --ckpt_path"


def _previous_checkpoint(path):
    """(path, epoch, global step) of a checkpoint a failed write to ``path`` left in place: last.ckpt of
    the same folder (what ``--ckpt_path last`` resumes), else the previous file at ``path``; or None."""
    if not path or not str(path).endswith(".ckpt"):
        return None
    for candidate in (Path(path).parent / "last.ckpt", Path(path)):
        if candidate.is_file():
            try:
                checkpoint = load_checkpoint(candidate, map_location="cpu")
            except CheckpointError:
                continue
            return str(candidate), checkpoint.get("epoch"), checkpoint.get("global_step")
    return None


class LastCheckpoint(ModelCheckpoint):
    """Writes ``last.ckpt`` at the end of every training epoch, at every other checkpoint a
    checkpoint callback writes (e.g. a mid-epoch one of ``ModelCheckpoint(every_n_train_steps=k)``),
    at the end of training, and when Ctrl-C stops a run (``handgrad.interrupt``): always the
    latest state, whatever a monitored metric did. ``best.ckpt`` stays a ModelCheckpoint's job.

    The handgrad CLI adds one to every Trainer that checkpoints (unless the config names one);
    keep it after other checkpoint callbacks, so that it writes after them.

    Args:
        dirpath: folder of ``last.ckpt``. Default: None (``<default_root_dir>/checkpoints``, as
            ModelCheckpoint).
        every_n_train_steps: also write every this many updates. Default: None (only as above).
    """

    def __init__(self, dirpath: str | None = None, every_n_train_steps: int | None = None):
        if every_n_train_steps is not None and (
                isinstance(every_n_train_steps, bool) or not isinstance(every_n_train_steps, int)
                or every_n_train_steps < 1):
            raise ValueError(f"LastCheckpoint: every_n_train_steps must be an int >= 1 or None, got {every_n_train_steps!r}")
        # save_top_k=0 and no monitor: ModelCheckpoint's own hooks write nothing; the hooks below do.
        # A ModelCheckpoint all the same, so that Lightning's ckpt_path='last' finds last.ckpt.
        super().__init__(dirpath=dirpath, save_top_k=0, save_last=True)
        self.every_n_updates = every_n_train_steps
        self._saved_step = None  # global step of the last write, to write each state once
        self._saving = False
        self._others_saved = False  # another callback wrote a checkpoint since our last write

    @property
    def state_key(self):
        # ModelCheckpoint's key is built from monitor and triggers: a plain ModelCheckpoint() beside this one
        # would get the same key, and Lightning refuses two callbacks whose saved states share a key
        return type(self).__qualname__

    @property
    def path(self):
        return os.path.join(self.dirpath, f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}")

    def save(self, trainer):
        """Write the trainer's current state to last.ckpt; returns its path."""
        self.last_model_path = self.path  # part of the state written
        self._saving = True
        try:
            trainer.save_checkpoint(self.path, weights_only=False)  # the whole state, for a resume
        finally:
            self._saving = False
        self._saved_step, self._others_saved = trainer.global_step, False
        return self.path

    def _save_if_new(self, trainer, due):
        """Write when ``due`` or when another callback wrote a checkpoint, once per update count."""
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        if (due or self._others_saved) and self._saved_step != trainer.global_step:
            self.save(trainer)
        self._others_saved = False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if not self._saving:
            self._others_saved = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        every = self.every_n_updates
        self._save_if_new(trainer, due=bool(every) and trainer.global_step % every == 0)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._save_if_new(trainer, due=False)

    def on_train_epoch_end(self, trainer, pl_module):
        # always: a write after the epoch's last batch came before its validation and epoch end
        if not trainer.fast_dev_run:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module):
        self._save_if_new(trainer, due=True)

    def on_exception(self, trainer, pl_module, exception):
        pass  # the state at an exception may be half an update; Ctrl-C saves through save()
