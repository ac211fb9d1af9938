"""Data parallelism for the classifier: every update's gradient averaged over all processes.

The classifier takes many updates inside one Lightning training step, and its fast path
fills ``.grad`` without autograd, so DistributedDataParallel's reducer (which hooks into
autograd, once per forward) can neither see nor time these gradients. Instead each
process computes the gradient of its samples' *summed* cost, and one all-reduce per update
adds up those gradients, the summed costs and the sample counts; dividing by the count
gives the gradient of the mean cost over all of the update's samples, however they were
shared out, so an update on N processes is the update one process would take.
"""
import torch
import torch.distributed as dist


def world_size():
    """Processes taking part in training: 1 unless torch.distributed is running with more."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@torch.no_grad()
def average_update(params, cost_sum, count):
    """Replace each parameter's ``.grad`` (of this process's summed cost) by the gradient of the
    mean cost over every process's samples; return that mean cost.

    Args:
        params: the trained parameters, in the same order on every process.
        cost_sum: this process's cost summed over its ``count`` samples (a 0-d tensor or a float).
        count: this process's samples in the update (0 is fine: it then adds nothing).
    """
    dtype = params[0].dtype
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    tail = torch.tensor([float(cost_sum), float(count)], dtype=dtype, device=params[0].device)
    flat = torch.cat([g.reshape(-1).to(dtype) for g in grads] + [tail])  # one message per update
    dist.all_reduce(flat)
    flat.div_(flat[-1].clone())  # every process's sum over the global sample count
    offset = 0
    for param in params:
        param.grad = flat[offset:offset + param.numel()].view_as(param).to(param.dtype)
        offset += param.numel()
    return flat[-2]
