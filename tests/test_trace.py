"""handgrad.trace(): every hand-written backward call, in autograd's order, with matching shapes and norms."""
import pytest
import torch

import handgrad
import handgrad.functional as F
from handgrad.functional import LinearFunction
from handgrad.models import MLP


def three_layers(fused=False):
    torch.manual_seed(0)
    return MLP(64, [30, 20], 10, "sigmoid", fused=fused)  # Linear-Sigmoid-Linear-Sigmoid-Linear


def batch(size=5):
    generator = torch.Generator().manual_seed(1)
    return torch.rand(size, 64, generator=generator), torch.randint(10, (size,), generator=generator)


def test_backward_calls_come_in_reverse_order_of_the_forward_with_matching_shapes():
    network, (inputs, targets) = three_layers(), batch()
    with handgrad.trace() as calls:
        F.cross_entropy(network(inputs), targets).backward()
    forward_order = ["LinearFunction", "SigmoidFunction"] * 2 + ["LinearFunction", "CrossEntropyFunction"]
    assert [call.op for call in calls] == forward_order[::-1]
    linear_calls = [call for call in calls if call.op == "LinearFunction"]  # last layer first
    for call, layer in zip(linear_calls, reversed(network.layers)):
        grads = {grad.name: grad for grad in call.grad_inputs}
        assert call.grad_outputs[0].shape == (5, layer.out_features)
        assert grads["grad_weight"].shape == tuple(layer.weight.shape)
        assert grads["grad_bias"].shape == tuple(layer.bias.shape)
        assert grads["grad_weight"].norm == pytest.approx(layer.weight.grad.norm().item(), rel=1e-5)
        assert grads["grad_bias"].norm == pytest.approx(layer.bias.grad.norm().item(), rel=1e-5)
    # the first layer's input needs no gradient: none is computed, and the trace says so
    assert {grad.name: grad.shape for grad in linear_calls[-1].grad_inputs}["grad_input"] is None
    # each call passes its input gradient on to the next: the chain rule, link by link
    for before, after in zip(calls, calls[1:]):
        assert before.grad_inputs[0].shape == after.grad_outputs[0].shape
        assert before.grad_inputs[0].norm == pytest.approx(after.grad_outputs[0].norm)
    assert calls[0].grad_inputs[0].shape == (5, 10)  # dL/dlogits
    text = str(calls)
    assert text.splitlines()[0].startswith("6 backward calls")
    assert "grad_weight (30, 64)" in text


def test_a_fused_stack_is_one_entry_with_every_parameter_gradient():
    network, (inputs, targets) = three_layers(fused=True), batch()
    with handgrad.trace() as calls:
        F.cross_entropy(network(inputs), targets).backward()
    assert [call.op for call in calls] == ["CrossEntropyFunction", "DenseStackFunction"]
    shapes = [grad.shape for grad in calls[1].grad_inputs if grad.shape is not None]
    assert shapes == [tuple(p.shape) for layer in network.layers for p in (layer.weight, layer.bias)]


def test_backward_is_restored_on_exit_and_on_error():
    original = LinearFunction.__dict__["backward"]
    with handgrad.trace():
        assert LinearFunction.__dict__["backward"] is not original
    assert LinearFunction.__dict__["backward"] is original
    with pytest.raises(RuntimeError, match="boom"):
        with handgrad.trace():
            raise RuntimeError("boom")
    assert LinearFunction.__dict__["backward"] is original


def test_nothing_is_recorded_outside_the_block_and_nested_blocks_both_record():
    network, (inputs, targets) = three_layers(), batch()
    with handgrad.trace() as outer:
        F.cross_entropy(network(inputs), targets).backward()
        with handgrad.trace() as inner:
            F.cross_entropy(network(inputs), targets).backward()
    F.cross_entropy(network(inputs), targets).backward()
    assert len(outer) == 12 and len(inner) == 6


def test_tracing_does_not_change_the_gradients():
    network, (inputs, targets) = three_layers(), batch()
    F.cross_entropy(network(inputs), targets).backward()
    plain = [p.grad.clone() for p in network.parameters()]
    network.zero_grad()
    with handgrad.trace():
        F.cross_entropy(network(inputs), targets).backward()
    for before, after in zip(plain, network.parameters()):
        assert torch.equal(before, after.grad)


def test_values_true_keeps_each_gradient_and_a_plain_trace_keeps_none():
    network, (inputs, targets) = three_layers(), batch()
    with handgrad.trace() as plain, handgrad.trace(values=True) as full:
        F.cross_entropy(network(inputs), targets).backward()
    assert all(grad.value is None for call in plain for grad in call.grad_inputs)
    first_layer = [call for call in full if call.op == "LinearFunction"][-1]
    grads = {grad.name: grad for grad in first_layer.grad_inputs}
    assert torch.equal(grads["grad_weight"].value, network.layers[0].weight.grad)
    assert grads["grad_input"].value is None  # not computed, so nothing to keep
    assert grads["grad_weight"].norm == pytest.approx(grads["grad_weight"].value.norm().item(), rel=1e-6)
    with pytest.raises(TypeError, match="trace: values must be a bool, got str"):
        with handgrad.trace(values="yes"):
            pass
