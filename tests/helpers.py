"""Small helpers shared by the op tests."""
import torch


def differentiable(args):
    return [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]


def forward_and_grads(fn, args):
    """Output of fn(*args) and the gradient of every differentiable input for a fixed upstream gradient."""
    out = fn(*args)
    inputs = differentiable(args)
    upstream = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    grads = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
    return out.detach(), grads


def fresh(args):
    """The same values in new leaf tensors, so two runs do not share autograd state."""
    return tuple(a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a
                 for a in args)
