"""handgrad.routed(): torch.nn.functional calls inside the block run handgrad's Functions,
give autograd's gradients, never recurse into handgrad, and everything is put back on exit."""
import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import handgrad
from catalogue import CASES
from handgrad.routing import ROUTES
from helpers import forward_and_grads, fresh
from strategies import DEFAULT

EXACT = dict(rtol=1e-10, atol=1e-12)
ORIGINALS = {(owner, name): getattr(owner, name) for owner, name, _, _ in ROUTES}


def _graph(tensor):
    """Names of every autograd node behind ``tensor``."""
    names, todo, seen = [], [tensor.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(node.name())
        todo += [next_node for next_node, _ in node.next_functions]
    return names


class FunctionalNet(nn.Module):
    """A model with no modules to swap: its forward calls torch.nn.functional itself."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(torch.randn(5, 4, dtype=torch.float64, generator=generator))
        self.b1 = nn.Parameter(torch.randn(5, dtype=torch.float64, generator=generator))
        self.w2 = nn.Parameter(torch.randn(3, 5, dtype=torch.float64, generator=generator))

    def forward(self, x):
        return F.linear(F.relu(F.linear(x, self.w1, self.b1)), self.w2)


def _loss_and_grads(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    return loss, grads


def test_functional_model_trains_through_handgrad_with_autograds_gradients():
    model = FunctionalNet()
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    expected_loss, expected = _loss_and_grads(model, x, y)

    with handgrad.routed() as routing:
        loss, grads = _loss_and_grads(model, x, y)

    torch.testing.assert_close(loss, expected_loss, **EXACT)
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], **EXACT)
    names = _graph(loss)
    assert names[0] == "CrossEntropyFunctionBackward"
    assert names.count("LinearFunctionBackward") == 2 and "ReLUFunctionBackward" in names
    assert not {"AddmmBackward0", "MmBackward0", "ReluBackward0", "NllLossBackward0"} & set(names)
    assert routing.handgrad_calls == {
        "torch.nn.functional.linear": 2, "torch.nn.functional.relu": 1, "torch.nn.functional.cross_entropy": 1,
    }
    assert F.linear is ORIGINALS[F, "linear"] and torch.sigmoid is ORIGINALS[torch, "sigmoid"]


def test_everything_is_put_back_also_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with handgrad.routed():
            assert F.linear is not ORIGINALS[F, "linear"]
            raise RuntimeError("boom")
    for (owner, name), original in ORIGINALS.items():
        assert getattr(owner, name) is original, f"{owner.__name__}.{name} was not restored"


def test_blocks_nest_and_an_open_block_is_not_reentered():
    outer = handgrad.routed()
    with outer:
        with handgrad.routed() as inner:
            out = torch.sigmoid(torch.randn(3, requires_grad=True))
        assert torch.sigmoid is not ORIGINALS[torch, "sigmoid"]  # the outer block's router is back
        with pytest.raises(RuntimeError, match="routed: this block is already open"):
            outer.__enter__()
    assert torch.sigmoid is ORIGINALS[torch, "sigmoid"]
    assert out.grad_fn.name() == "SigmoidFunctionBackward" and inner.handgrad_calls["torch.sigmoid"] == 1


@pytest.mark.parametrize("op, function", [
    ("torch.sigmoid", lambda x: torch.sigmoid(x)), ("torch.tanh", lambda x: torch.tanh(x)),
    ("torch.relu", lambda x: torch.relu(x)), ("torch.nn.functional.leaky_relu", lambda x: F.leaky_relu(x, 0.2)),
    ("torch.nn.functional.softmax", lambda x: F.softmax(x, dim=1)),
    ("torch.nn.functional.log_softmax", lambda x: F.log_softmax(x, dim=1)),
])
def test_handgrad_does_not_recurse_into_itself(op, function):
    """handgrad's forwards call torch.sigmoid, F.leaky_relu ...: those reach torch, once."""
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    with handgrad.routed() as routing:
        out = function(x)
    assert len(_graph(out)) == 2  # the handgrad node, then AccumulateGrad for x: nothing nested
    assert _graph(out)[0].endswith("FunctionBackward")
    assert routing.handgrad_calls == {op: 1} and not routing.torch_calls
    torch.testing.assert_close(out, function(x), **EXACT)


def test_double_backward_through_a_routed_backward():
    """binary_cross_entropy_with_logits' backward calls torch.sigmoid, routed under create_graph."""
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    t = torch.rand(3, 2, dtype=torch.float64)
    with handgrad.routed():
        assert torch.autograd.gradgradcheck(lambda x: F.binary_cross_entropy_with_logits(x, t), (x,))


@pytest.mark.parametrize("call, reason", [
    (lambda x: F.relu(x, inplace=True), "inplace=True"),
    (lambda x: F.leaky_relu(x, 0.1, True), "inplace=True"),
    (lambda x: torch.relu(x.round().long()).double(), "input is torch.int64, not floating point"),
    (lambda x: torch.sigmoid(x.detach(), out=torch.empty_like(x.detach())), "arguments handgrad's signature does not take"),
    (lambda x: F.mse_loss(x, x.detach()[0]), "target shape differs from input's (torch broadcasts)"),
    (lambda x: F.nll_loss(x, torch.zeros(3, dtype=torch.long), size_average=False),
     "size_average/reduce (deprecated)"),
])
@pytest.mark.filterwarnings("ignore:.*(target size|size_average).*:UserWarning")
def test_calls_handgrad_does_not_take_go_to_torch(call, reason):
    x = (torch.randn(3, 4, generator=torch.Generator().manual_seed(3)) + 0.1).requires_grad_()
    expected = call(x.detach().requires_grad_().clone())  # a non-leaf, so in-place ops may run
    with handgrad.routed() as routing:
        out = call(x.clone())
    assert reason in {why for _, why in routing.torch_calls}, routing.torch_calls
    assert not any(name.endswith("FunctionBackward") for name in _graph(out))
    torch.testing.assert_close(out, expected)


def test_segmentation_cross_entropy_runs_handgrad():
    """(N, C, d1, d2) logits with (N, d1, d2) targets: handgrad's Function, torch's values."""
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randint(3, (2, 4, 5), generator=torch.Generator().manual_seed(0))
    with handgrad.routed() as routing:
        loss = F.cross_entropy(x, target)
    assert routing.handgrad_calls == {"torch.nn.functional.cross_entropy": 1} and not routing.torch_calls
    torch.testing.assert_close(loss, F.cross_entropy(x, target), **EXACT)


def test_softmax_without_dim_and_no_grad_go_to_torch():
    x = torch.randn(2, 3, requires_grad=True)
    with handgrad.routed() as routing:
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            out = F.softmax(x)
        with torch.no_grad():
            torch.tanh(x)
    assert out.grad_fn.name() == "SoftmaxBackward0"
    assert routing.torch_calls == {
        ("torch.nn.functional.softmax", "dim=None"): 1, ("torch.tanh", "grad mode is off"): 1,
    }


# the catalogue's torch side binds some functions before any block opens; look those up late
LATE = {original: (lambda *a, o=owner, n=name: getattr(o, n)(*a)) for (owner, name), original in ORIGINALS.items()}
ROUTED_OPS = {name for _, name, _, _ in ROUTES} | {"bce_with_logits"}


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_catalogue_torch_ops_give_the_same_results_when_routed(case):
    """Routing never changes a result; the catalogue's torch op of a routed name runs handgrad."""
    torch_op = LATE.get(case.torch, case.torch)
    args = case.make(DEFAULT, torch.float64)
    expected_out, expected_grads = forward_and_grads(torch_op, fresh(args))
    with handgrad.routed():
        out, grads = forward_and_grads(torch_op, fresh(args))
        graph = _graph(torch_op(*fresh(args)))
    torch.testing.assert_close(out, expected_out, **EXACT)
    for grad, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected, **EXACT)
    if case.name.split("[")[0] in ROUTED_OPS:
        assert any(name.endswith("FunctionBackward") for name in graph), graph


def test_routing_reaches_what_swap_must_skip():
    """MultiheadAttention hands out_proj.weight to F.multi_head_attention_forward, whose
    linear and softmax calls are routed: under routed() the whole ViT runs handgrad's linear."""
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    ).double()
    reference = copy.deepcopy(model)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    upstream = torch.linspace(-1, 1, 20, dtype=torch.float64).reshape(2, 10)
    reference(x).backward(upstream)
    with handgrad.routed() as routing:
        model(x).backward(upstream)
    # per layer: packed q/k/v projection, out_proj, two MLP linears; then the head
    assert routing.handgrad_calls["torch.nn.functional.linear"] == 2 * 4 + 1
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **EXACT, msg=lambda m, n=name: f"{n}: {m}")
