"""handgrad/_compat.py: each way past a public API still does what handgrad relies on.

A failure here means a Lightning or torch release changed something handgrad reaches into;
the message says which entry and which versions it was tested on.

To run:  .venv/bin/python -m pytest tests/test_compat.py
"""
import lightning as L
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from handgrad import _compat
from handgrad.optim import GradientDescent
from training_helpers import quiet_trainer

TESTED = "tested on lightning 2.6.6 and torch 2.14.1; installed: lightning {}, torch {}".format(
    L.__version__, torch.__version__)


class CountsTwice(L.LightningModule):
    """Manual optimization: one update through LightningOptimizer.step, one counted by _compat."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.steps_seen = []

    def training_step(self, batch, batch_idx):
        self.optimizers().step()
        _compat.update_counter(self.trainer)()
        self.steps_seen.append(self.global_step)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(3, 1)), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_update_counter_advances_global_step_as_lightning_optimizer_step_does():
    model = CountsTwice()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model)
    assert model.steps_seen == [2, 4, 6] and trainer.global_step == 6, (
        f"_compat.update_counter no longer counts an update in trainer.global_step ({TESTED}): "
        f"global_step after each training step {model.steps_seen}, expected [2, 4, 6]")


def test_update_counter_stops_at_max_steps_as_lightning_does():
    model = CountsTwice()
    trainer = quiet_trainer(max_epochs=5, max_steps=4)
    trainer.fit(model)
    assert trainer.global_step == 4, f"max_steps no longer reads the counted updates ({TESTED})"


def test_optimizer_step_hooks_sees_every_kind_of_hook():
    optimizer = GradientDescent([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert _compat.optimizer_step_hooks(optimizer) == 0, f"hooks counted where none is registered ({TESTED})"
    registrations = [
        lambda: optimizer.register_step_pre_hook(lambda *args: None),
        lambda: optimizer.register_step_post_hook(lambda *args: None),
        lambda: register_optimizer_step_pre_hook(lambda *args: None),
        lambda: register_optimizer_step_post_hook(lambda *args: None),
    ]
    for number, register in enumerate(registrations, 1):
        handle = register()
        try:
            assert _compat.optimizer_step_hooks(optimizer) == 1, (
                f"_compat.optimizer_step_hooks misses step hook kind {number} of 4 ({TESTED}); the Classifier's "
                f"lean updates would skip it")
        finally:
            handle.remove()
    assert _compat.optimizer_step_hooks(optimizer) == 0
