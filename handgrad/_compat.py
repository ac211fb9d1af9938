"""The few places where handgrad reaches past a public API, each kept here and tested.

Every entry names the versions it was tested on, and ``tests/test_compat.py`` checks it
against the installed release, so a release that changes it fails there, loudly, instead
of training wrongly. Nothing else in ``handgrad/`` or ``datamodules/`` touches a private name.
"""

# ---------------------------------------------------------------------------------------
# Lightning: the Classifier's training loop (issue 13)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# torch: what the Classifier's lean updates must not skip (issue 13)
# ---------------------------------------------------------------------------------------


def optimizer_step_hooks(optimizer):
    """How many step hooks would run at ``optimizer.step()``: the optimizer's own and the global ones
    (``torch.optim.optimizer.register_optimizer_step_pre_hook`` / ``..._post_hook``). torch offers no
    public way to ask; the lean update, which calls the update rule without ``step()``, is only taken
    when this is 0.

    Tested on torch 2.14.1 (``Optimizer._optimizer_step_pre_hooks`` / ``_post_hooks`` and
    ``torch.optim.optimizer._global_optimizer_pre_hooks`` / ``_post_hooks``).
    """
    from torch.optim import optimizer as torch_optimizer

    return (len(optimizer._optimizer_step_pre_hooks) + len(optimizer._optimizer_step_post_hooks)
            + len(torch_optimizer._global_optimizer_pre_hooks) + len(torch_optimizer._global_optimizer_post_hooks))
