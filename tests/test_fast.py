"""The fast tier (handgrad.fast) computes the reference tier's numbers: float64, rtol=1e-10.

Every piece the fast tier has is checked against the reference Function it replaces: the
activations and their derivatives, the products in both layouts (batches below and from
TRANSPOSED_FROM), the three costs' gradients w.r.t. the logits, and the whole update
(stack forward, cost, stack backprop) against autograd through the reference Functions.
"""
import pytest
import torch
import torch.nn.functional as TF

import handgrad.functional as HF
from handgrad import fast
from handgrad.backprop import COSTS, cost

CLOSE = dict(rtol=1e-10, atol=1e-12)
BATCHES = (3, fast.TRANSPOSED_FROM + 2)  # the plain and the transposed layout
REFERENCE_ACTIVATIONS = {"sigmoid": HF.sigmoid, "tanh": HF.tanh, "relu": HF.relu,
                         "leaky_relu": lambda x: HF.leaky_relu(x, fast.LEAKY_SLOPE)}


def network(batch, sizes=(6, 5, 4, 3), seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, sizes[0], generator=gen, dtype=torch.float64)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64) * 0.8,
                   torch.randn(fan_out, generator=gen, dtype=torch.float64) * 0.3]
    targets = torch.randint(sizes[-1], (batch,), generator=gen)
    return inputs, params, targets


@pytest.mark.parametrize("activation", sorted(fast.ACTIVATIONS))
def test_activation_and_its_derivative_match_the_reference_function(activation):
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    x[0, :2] = 0.0  # the kink: both tiers give torch's derivative there
    upstream = torch.linspace(-1, 1, x.numel(), dtype=torch.float64).reshape(x.shape)
    apply_activation, derivative = fast.ACTIVATIONS[activation]
    output = apply_activation(x.clone())
    reference_input = x.clone().requires_grad_()
    reference_output = REFERENCE_ACTIVATIONS[activation](reference_input)
    (reference_grad,) = torch.autograd.grad(reference_output, reference_input, upstream)
    torch.testing.assert_close(output, reference_output.detach(), **CLOSE)
    torch.testing.assert_close(derivative(output) * upstream, reference_grad, **CLOSE)


@pytest.mark.parametrize("batch", BATCHES)
def test_products_in_both_layouts_match_linear(batch):
    inputs, (weight, bias, *_), _ = network(batch)
    delta = torch.randn(batch, weight.shape[0], dtype=torch.float64)
    torch.testing.assert_close(fast.affine(inputs, weight, bias), HF.linear(inputs, weight, bias), **CLOSE)
    torch.testing.assert_close(fast.times_weight(delta, weight), delta @ weight, **CLOSE)


@pytest.mark.parametrize("name", COSTS)
@pytest.mark.parametrize("batch", BATCHES)
def test_cost_and_logit_gradient_match_the_reference_cost(name, batch):
    _, _, targets = network(batch)
    logits = torch.randn(batch, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
    value, grad = fast.cost_and_logit_grad(logits.clone(), targets, name, 1.0 / batch)
    reference_logits = logits.clone().requires_grad_()
    reference = cost(reference_logits, targets, name)  # the reference Functions, mean over the samples
    (reference_grad,) = torch.autograd.grad(reference, reference_logits)
    torch.testing.assert_close(value, reference.detach(), **CLOSE)
    torch.testing.assert_close(grad, reference_grad, **CLOSE)


@pytest.mark.parametrize("activation", sorted(fast.ACTIVATIONS))
@pytest.mark.parametrize("batch", BATCHES)
def test_whole_update_matches_autograd_through_the_reference_tier(activation, batch):
    inputs, params, targets = network(batch, seed=batch)
    logits, hiddens = fast.stack_forward(inputs, activation, params)
    _, grad_logits = fast.cost_and_logit_grad(logits, targets, "cross_entropy", 1.0 / batch)
    grads = fast.stack_backprop(grad_logits, inputs, hiddens, params[0::2], activation)

    leaves = [p.clone().requires_grad_() for p in params]
    reference_logits = HF.dense_stack(inputs, leaves[0::2], leaves[1::2], activation)
    reference_grads = torch.autograd.grad(HF.cross_entropy(reference_logits, targets), leaves)
    torch.testing.assert_close(logits, reference_logits.detach(), **CLOSE)
    assert len(grads) == len(reference_grads)
    for grad, reference_grad in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, **CLOSE)
    # and the reference stack is torch's own layers
    torch_logits = inputs
    for layer in range(0, len(params), 2):
        torch_logits = TF.linear(torch_logits, params[layer], params[layer + 1])
        if layer + 2 < len(params):
            torch_logits = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                            "leaky_relu": TF.leaky_relu}[activation](torch_logits)
    torch.testing.assert_close(reference_logits.detach(), torch_logits, **CLOSE)
