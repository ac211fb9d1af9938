"""Gradient descent: step against the gradient, optionally with momentum (torch.optim.SGD's rule)."""
from handgrad.grad_mode import without_graph
from handgrad.optim._checks import check_real
from handgrad.optim.base import HandgradOptimizer


class GradientDescent(HandgradOptimizer):
    r"""Gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    For each parameter :math:`\theta` with gradient :math:`g`:

    .. math::
        d = g + \lambda \theta, \quad
        v \leftarrow \mu v + (1 - \tau) d \ (v = d \text{ on the first step}), \quad
        \theta \leftarrow \theta - \eta\, (d + \mu v \text{ if Nesterov else } v)

    Without momentum (:math:`\mu = 0`) this is plain :math:`\theta \leftarrow \theta - \eta g`.
    Whether it is batch, stochastic or mini-batch descent depends only on how many
    samples the gradient was computed from. Follows torch.optim.SGD step for step.

    Args:
        params: iterable of parameters or parameter groups.
        lr: learning rate :math:`\eta` (>= 0).
        momentum: momentum factor :math:`\mu` in [0, 1). Default: 0.
        dampening: dampening :math:`\tau` for the momentum. Default: 0.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0). Default: False.
        weight_decay: L2 penalty :math:`\lambda` (>= 0). Default: 0.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        name = "GradientDescent"
        check_real(name, "lr", lr, low=0)
        check_real(name, "momentum", momentum, low=0, high=1, high_open=True)
        check_real(name, "dampening", dampening)
        check_real(name, "weight_decay", weight_decay, low=0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"{name}: nesterov must be a bool, got {type(nesterov).__name__}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"{name}: nesterov=True needs momentum > 0 and dampening = 0, "
                f"got momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @without_graph
    def apply_update(self):
        for group in self.param_groups:
            lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                direction = param.grad
                if weight_decay != 0:
                    direction = direction.add(param, alpha=weight_decay)
                if momentum != 0:
                    state = self.state[param]
                    velocity = state.get("momentum_buffer")
                    if velocity is None:
                        velocity = state["momentum_buffer"] = direction.clone()
                    else:
                        velocity.mul_(momentum).add_(direction, alpha=1 - group["dampening"])
                    direction = direction.add(velocity, alpha=momentum) if group["nesterov"] else velocity
                param.add_(direction, alpha=-lr)
