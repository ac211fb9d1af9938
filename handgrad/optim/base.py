"""What handgrad's optimizers share: torch.optim.Optimizer's step() around a plain update."""
import torch
from torch.optim import Optimizer


class HandgradOptimizer(Optimizer):
    """A torch.optim.Optimizer whose update rule is written out in ``apply_update``.

    ``step()`` is torch's: an optional closure, then the update, inside torch.optim's
    profiler label and step hooks. ``apply_update()`` is the update alone, which the
    classifier's hot loop calls when no hook is registered.
    """

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.apply_update()
        return loss

    def apply_update(self):
        """One update from each parameter's current ``.grad``."""
        raise NotImplementedError
