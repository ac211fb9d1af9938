"""Every op under torch.func.vmap, torch.func.grad and torch.compile gives eager's results."""
import pytest
import torch

from catalogue import CASES
from helpers import forward_and_grads, fresh
from strategies import DEFAULT

BATCHED = [case for case in CASES if case.batched]


def detached(args):
    return tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)


@pytest.mark.parametrize("case", BATCHED, ids=repr)
def test_vmap_matches_a_loop_over_samples(case):
    args = detached(case.make(DEFAULT, torch.float64))
    in_dims = case.in_dims(args)
    batched = torch.func.vmap(case.handgrad, in_dims=in_dims)(*args)
    looped = torch.stack([
        case.torch(*(a[i] if d == 0 else a for a, d in zip(args, in_dims))) for i in range(args[0].shape[0])
    ])
    torch.testing.assert_close(batched, looped, equal_nan=True)  # an ignored sample's mean is 0/0, as in torch


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_func_grad_matches_autograd(case):
    args = case.make(DEFAULT, torch.float64)

    def total(first, *rest):
        return case.handgrad(first, *rest).sum()

    first = args[0].detach().requires_grad_()
    expected = torch.autograd.grad(case.torch(first, *detached(args[1:])).sum(), first)[0]
    got = torch.func.grad(total)(args[0].detach(), *detached(args[1:]))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("case", BATCHED, ids=repr)
def test_vmap_of_grad_gives_per_sample_gradients(case):
    args = detached(case.make(DEFAULT, torch.float64))
    in_dims = case.in_dims(args)

    def total(*per_sample):
        return case.handgrad(*per_sample).sum()

    got = torch.func.vmap(torch.func.grad(total), in_dims=in_dims)(*args)
    for i in range(args[0].shape[0]):
        sample = [a[i] if d == 0 else a for a, d in zip(args, in_dims)]
        first = sample[0].clone().requires_grad_()
        expected = torch.autograd.grad(case.torch(first, *sample[1:]).sum(), first)[0]
        torch.testing.assert_close(got[i], expected, equal_nan=True)


# one case per op (compiling costs seconds each on two cores); the options run eagerly above
COMPILE_NAMES = {
    "linear[bias=True]", "dense_stack[relu]", "sigmoid", "tanh", "relu", "leaky_relu[0.2]", "softmax[dim=1]",
    "log_softmax[dim=1]", "mse_loss[mean]", "cross_entropy[indices,plain,mean]", "cross_entropy[probs,plain,mean]",
    "nll_loss[plain,mean]", "binary_cross_entropy[weight=False,mean]", "bce_with_logits[plain,mean]",
    "conv2d[plain]", "max_pool2d[k=2]", "avg_pool2d[k=2]", "dropout[p=0.5]", "layer_norm[last dim]",
    "batch_norm[train,(N,C,H,W)]",
}
COMPILE_CASES = [case for case in CASES if case.name in COMPILE_NAMES]


def test_every_op_has_a_compile_case():
    assert len(COMPILE_CASES) == len(COMPILE_NAMES)


@pytest.mark.parametrize("case", COMPILE_CASES, ids=repr)
def test_torch_compile_matches_eager(case):
    torch._dynamo.reset()
    args = case.make(DEFAULT, torch.float32)
    compiled = torch.compile(case.handgrad, backend="inductor", dynamic=False)
    with torch._inductor.config.patch(fallback_random=True):  # dropout: eager's random numbers
        out, grads = forward_and_grads(compiled, fresh(args))
    expected_out, expected_grads = forward_and_grads(case.handgrad, fresh(args))
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-6)
    for grad, expected in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
