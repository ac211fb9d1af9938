"""The one place where handgrad reaches for names that torch or Lightning keep private.

Everything else in handgrad/ and datamodules/ uses public API only. Each entry here does
something the library offers no public way to do, names the versions it was tested on,
and has a test in tests/test_compat.py that fails with a clear message when a release
changes it. Keep the torch and Lightning entries in their own sections.
"""
import torch

# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------


def functorch_transforms_active():
    """Whether a torch.func transform (vmap, grad, jacrev ...) is running the current call.

    The argument checks that read tensor values (a class index out of range, a probability
    above 1) cannot run under vmap, where a value is a batch of values; torch has no public
    query for this. Tested on torch 2.14.1.
    """
    return torch._C._are_functorch_transforms_active()


def optimizer_step_hooks(optimizer):
    """Whether a step hook is registered on ``optimizer`` or on every optimizer
    (``register_step_pre_hook`` / ``register_optimizer_step_pre_hook`` and their post forms).

    The classifier's lean update skips ``optimizer.step()`` only when nothing listens to it;
    torch registers hooks publicly but offers no public query. Tested on torch 2.14.1.
    """
    from torch.optim import optimizer as optimizer_module

    return bool(
        optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
        or optimizer_module._global_optimizer_pre_hooks or optimizer_module._global_optimizer_post_hooks
    )


# ---------------------------------------------------------------------------
# Lightning
# ---------------------------------------------------------------------------


def update_counter(trainer):
    """A function that counts one parameter update in ``trainer.global_step``.

    Under manual optimization only ``LightningOptimizer.step`` advances ``global_step``, and
    it runs Lightning's per-step machinery (hooks, profiler labels) that costs more than a
    one-sample update of a small MLP. The Classifier takes that path whenever something
    listens; when nothing does, it updates the weights itself and counts the update here,
    exactly as ``LightningOptimizer.step`` would (ready, then completed).

    Tested on lightning 2.6.6 (``fit_loop.epoch_loop.manual_optimization.optim_step_progress``).
    """
    progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress

    def count():
        progress.increment_ready()
        progress.increment_completed()

    return count


# --- Ctrl-C within a training step (issue 17; handgrad.interrupt) ------------------------------------
# Tested with lightning 2.6.6. Test: tests/test_interrupt.py (the resumed run's loop counts equal the
# uninterrupted run's; a changed layout raises here and fails the interrupted run).
#
# A checkpoint written inside a training step records that step's batch as fetched and started
# (``ready``/``started`` of the epoch loop's batch progress) but not processed. On resume Lightning
# resets the epoch's ``current`` counters to ``completed`` but keeps the ``total`` ones, and, seeing
# a step in progress, adds one to the count of steps that logged (``_batches_that_stepped``): the
# interrupted step would be counted twice, and loggers would write every later step one step late.
# Taking the unfinished step out of the counts makes the checkpoint read as one written between
# steps, which is what it is once the loader serves the step again (datamodules.descent.UpdateBlocks).

BATCH_PROGRESS = ("loops", "fit_loop", "epoch_loop.batch_progress")


def unstart_step_in_progress(checkpoint):
    """In a checkpoint dict written during a training step, count that step as not yet fetched."""
    progress = checkpoint
    for key in BATCH_PROGRESS:
        if not isinstance(progress, dict) or key not in progress:
            raise KeyError(f"handgrad._compat: checkpoint layout changed: no {'.'.join(BATCH_PROGRESS)} "
                           f"(tested with lightning 2.6.6)")
        progress = progress[key]
    for part in ("total", "current"):
        counts = progress[part]
        if not (counts["ready"] == counts["started"] == counts["processed"] + 1 == counts["completed"] + 1):
            raise ValueError(f"handgrad._compat: expected one step in progress, got batch progress {part} {counts}")
        counts["ready"] -= 1
        counts["started"] -= 1
