"""Ctrl-C keeps the work: the update in progress finishes, a checkpoint of that state is written,
and the command says where it stopped and how to continue.

To see it:  handgrad fit --config experiments/configs/digits_cnn.yaml   (press Ctrl-C once)

``Interrupt``, a callback the handgrad CLI adds to every Trainer, installs a SIGINT handler for
the time of ``fit``. The first Ctrl-C only sets a flag. The Classifier's update loop reads it
before each update (``requested()``); when set, ``stop_within_block`` records in the training
loader how many of the block's updates were taken (and their losses), writes ``last.ckpt``
through ``handgrad.checkpoint.LastCheckpoint`` and raises ``Interrupted``, which the CLI turns
into a short block on stderr and exit status 130 (128 + SIGINT, as a shell reports a Ctrl-C).
A second Ctrl-C stops at once (``StoppedAtOnce``), also with status 130, writing nothing more.

A checkpoint written in the middle of a block resumes into that block: the loader serves it
again with the losses already taken, and the Classifier takes only its remaining updates, so
the resumed run ends where the uninterrupted one would, bit for bit on CPU.

With several processes (DDP) the processes would have to agree on the update to stop at;
there the handler is not installed and Ctrl-C is Lightning's own (it stops without a checkpoint
of the step in progress).
"""
import shlex
import signal
import sys
import threading

import lightning as L
import torch

from handgrad._compat import unstart_step_in_progress
from handgrad.checkpoint import LastCheckpoint

EXIT_STATUS = 128 + signal.SIGINT  # what a shell reports for a command ended by Ctrl-C

_flag = {"requested": False, "stopping": False}


def requested():
    """Whether Ctrl-C was pressed once during this fit: read by the update loop before each update."""
    return _flag["requested"]


class Interrupted(Exception):
    """Training stopped on Ctrl-C after an update, with its state saved at ``path`` (None: not saved)."""

    def __init__(self, epoch, update, path):
        super().__init__(f"interrupted at epoch {epoch}, update {update}")
        self.epoch, self.update, self.path = epoch, update, path


class StoppedAtOnce(BaseException):
    """A second Ctrl-C: stop now, without finishing the update or writing a checkpoint.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it; not a
    KeyboardInterrupt, which Lightning would turn into its own message and exit status 1.
    """


def _on_sigint(signum, frame):
    if _flag["requested"]:
        raise StoppedAtOnce()
    _flag["requested"] = True
    print("handgrad: Ctrl-C: stopping after the update in progress and saving a checkpoint "
          "(Ctrl-C again stops at once)", file=sys.stderr, flush=True)


class Interrupt(L.Callback):
    """Installs handgrad's Ctrl-C handler while ``fit`` runs (one process only), and removes it after."""

    def __init__(self):
        self._previous = None

    def on_fit_start(self, trainer, pl_module):
        _flag["requested"] = False
        # signal handlers belong to the main thread; a fit run from another thread keeps Python's Ctrl-C
        if trainer.world_size == 1 and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, _on_sigint)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if _flag["stopping"]:  # written inside the training step: see handgrad._compat
            unstart_step_in_progress(checkpoint)

    def teardown(self, trainer, pl_module, stage):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        _flag["requested"] = False


def stop_within_block(module, updates_taken, losses):
    """Stop the Classifier's training step before update ``updates_taken`` of its block: record the
    position and ``losses`` (of the block's updates taken) in the training loader, write
    ``last.ckpt`` and raise Interrupted."""
    trainer = module.trainer
    loader = trainer.train_dataloader
    if not hasattr(loader, "stop_within_block"):
        raise TypeError(
            f"Ctrl-C: the training loader must be datamodules.descent.UpdateBlocks to stop within a block, "
            f"got {type(loader).__name__}"
        )
    taken = torch.stack([torch.as_tensor(loss, dtype=torch.float32) for loss in losses]) if losses else torch.empty(0)
    loader.stop_within_block(updates_taken, taken)
    savers = [callback for callback in trainer.callbacks if isinstance(callback, LastCheckpoint)]
    _flag["stopping"] = True
    try:
        path = savers[0].save(trainer) if savers else None
    finally:
        _flag["stopping"] = False
    raise Interrupted(trainer.current_epoch, trainer.global_step, path)


def exit_after(error, args, newest):
    """Print where a Ctrl-C stopped the command and exit with status 130. ``error``: Interrupted, or
    StoppedAtOnce / KeyboardInterrupt (a second Ctrl-C, or one before training started); ``args``:
    the command's arguments; ``newest``: (path, epoch, update) of the newest checkpoint written, or None."""
    if isinstance(error, Interrupted):
        lines = report(error, args)
    else:
        saved = f"the newest checkpoint is {newest[0]} (epoch {newest[1]}, update {newest[2]})" if newest \
            else "no checkpoint was written"
        lines = [f"handgrad: stopped at once (Ctrl-C); {saved}"]
    for line in lines:
        print(line, file=sys.stderr)
    sys.exit(EXIT_STATUS)


def report(error, args):
    """The lines the CLI prints for an Interrupted run: where it stopped, the checkpoint, the command
    that resumes it (``args``: the command's arguments, without the program name)."""
    lines = [f"handgrad: interrupted (Ctrl-C) at epoch {error.epoch}, after update {error.update}"]
    if error.path is None:
        lines.append("handgrad: no checkpoint written (checkpointing is off: trainer.enable_checkpointing false)")
        return lines
    resume = list(args)
    for index, arg in enumerate(resume):  # drop an earlier --ckpt_path: the resume names the new one
        if arg == "--ckpt_path" and index + 1 < len(resume):
            del resume[index:index + 2]
            break
        if arg.startswith("--ckpt_path="):
            del resume[index]
            break
    lines.append(f"handgrad: checkpoint: {error.path}")
    lines.append(f"handgrad: resume with: {shlex.join(['handgrad', *resume, '--ckpt_path', str(error.path)])}")
    return lines
