"""What handgrad needs from Lightning and torch that has no public API: one place, each entry
with the versions it was tested with and a test that fails loudly when a release changes it.

Sections belong to the issues that added them; keep each entry small.
"""

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
