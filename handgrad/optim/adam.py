"""Adam: gradient descent with per-parameter step sizes from running moments (torch.optim.Adam's rule)."""
import math

import torch

from handgrad.grad_mode import without_graph
from handgrad.optim._checks import check_real
from handgrad.optim.base import HandgradOptimizer


class Adam(HandgradOptimizer):
    r"""Adam (Kingma and Ba, 2015) with optional L2 weight decay.

    For each parameter with gradient :math:`g` (plus :math:`\lambda \theta` if weight_decay),
    at step :math:`t`:

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
        \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t} \cdot
            \frac{m}{\sqrt{v / (1-\beta_2^t)} + \epsilon}

    Follows torch.optim.Adam (amsgrad=False) step for step.

    Args:
        params: iterable of parameters or parameter groups.
        lr: learning rate :math:`\eta` (>= 0). Default: 1e-3.
        betas: decay rates :math:`(\beta_1, \beta_2)`, each in [0, 1). Default: (0.9, 0.999).
        eps: added to the denominator for stability (>= 0). Default: 1e-8.
        weight_decay: L2 penalty :math:`\lambda` (>= 0). Default: 0.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = "Adam"
        check_real(name, "lr", lr, low=0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_real(name, "betas[0]", betas[0], low=0, high=1, high_open=True)
        check_real(name, "betas[1]", betas[1], low=0, high=1, high_open=True)
        check_real(name, "eps", eps, low=0)
        check_real(name, "weight_decay", weight_decay, low=0)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @without_graph
    def apply_update(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1 - beta1)  # m = beta1 m + (1 - beta1) g
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = group["lr"] / (1 - beta1**step)
                denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
                param.addcdiv_(exp_avg, denom, value=-step_size)
