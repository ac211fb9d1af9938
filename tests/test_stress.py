"""Numerical honesty under stress: every op of the catalogue on very large, very small and
denormal inputs, against torch's own op, forward and gradients.

Where torch's result is finite, handgrad's must be finite too and close to it; where torch
overflows or gives NaN, handgrad must as well, unless the op is listed in MORE_STABLE (and
in docs/reliability.md) as one where handgrad stays finite. No op may be less stable than torch.

To run:  python -m pytest tests/test_stress.py
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from catalogue import CASES
from helpers import forward_and_grads, fresh
from reliability_helpers import one_thread  # noqa: F401 (a fixture)
from strategies import shapes

pytestmark = pytest.mark.usefixtures("one_thread")

# Scales of the inputs: denormal, tiny, ordinary, huge. The largest leave headroom for the
# sums inside a matrix product (a few dozen terms), whose overflow would depend on the order
# of summation; an elementwise square of them overflows in both libraries alike.
SCALES = {
    torch.float32: [1e-44, 1e-40, 1e-30, 1e-8, 1.0, 1e8, 1e20, 1e35],
    torch.float64: [1e-320, 1e-310, 1e-200, 1e-30, 1.0, 1e30, 1e200, 1e300],
}
# Probabilities pushed towards 0 (p**k reaches the denormals, then 0) or towards 1.
POWERS = [1, 30, 140, 400, 1100]
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}
# binary_cross_entropy's input gradient divides by max(x (1 - x), 1e-12); torch's 1e-12 is a float32
# constant (9.99999996e-13) even in float64, handgrad's is exact: 4e-9 apart where the floor acts
FLOORED_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8}

def _log_floored(args):
    """Where binary_cross_entropy's log x or log(1 - x) is below -100 and both libraries floor it."""
    probability = args[0].detach()
    return (torch.log(probability) < -100) | (torch.log1p(-probability) < -100)


# Where handgrad deliberately differs from torch: op -> (the result concerned, the elements where).
# There handgrad must be finite, and its values are not compared with torch's. Each is in docs/reliability.md.
def _square_overflows(args):
    """Samples of layer_norm's input whose square overflows: torch's variance does, handgrad's does not."""
    x = args[0].detach()
    overflow = torch.isinf(x * x).flatten(1).any(1)
    return overflow.view(-1, *[1] * (x.dim() - 1)).expand_as(x)


MORE_STABLE = {
    # d cost / d target = log(1 - x) - log(x). Both libraries floor these logs at -100 in the cost;
    # handgrad's gradient is the derivative of that floored cost, finite. torch's leaves them
    # unfloored: infinite where x is 0 or 1, and not the slope of the cost it returned.
    "binary_cross_entropy": (("gradient 1",), _log_floored),
    # layer_norm's variance: torch's float32 CPU kernel squares the raw input and overflows to
    # inf/nan for |x| above ~1e19; handgrad centres first, so its output and gradients stay finite
    "layer_norm": (("forward", "gradient 0", "gradient 1", "gradient 2"), _square_overflows),
}


def stressed(case, args, dtype, scale, power, towards_one):
    """The case's arguments with the free inputs scaled: every free floating input for linear
    and mse_loss, the first for the other ops. Probabilities (binary_cross_entropy's input)
    are pushed to 0 or 1 instead; targets that are probabilities, and class weights, stay."""
    args = list(args)
    if case.name.startswith("binary_cross_entropy"):
        with torch.no_grad():
            probability = args[0].detach().pow(power)
            args[0] = (1 - probability if towards_one else probability).requires_grad_()
        return tuple(args)
    free = range(len(args)) if case.name.startswith(("linear", "mse_loss")) else [0]
    for index in free:
        arg = args[index]
        if isinstance(arg, torch.Tensor) and arg.is_floating_point() and arg.requires_grad:
            with torch.no_grad():
                args[index] = (arg.detach() * scale).requires_grad_()
    return tuple(args)


def compare(name, ours, theirs, dtype, rtol, deliberate=None):
    """isfinite masks equal and values close where both are finite; in the ``deliberate`` elements
    (see MORE_STABLE) only that handgrad is finite."""
    if theirs is None or ours is None:
        assert ours is None and theirs is None, f"{name}: one library gave no gradient"
        return
    finite, theirs_finite = torch.isfinite(ours), torch.isfinite(theirs)
    if deliberate is not None:
        assert finite[deliberate].all(), f"{name}: handgrad is not finite where it floors on purpose"
        finite, theirs_finite = finite & ~deliberate, theirs_finite & ~deliberate
        ours, theirs = ours.masked_fill(deliberate, 0), theirs.masked_fill(deliberate, 0)
    less_stable = theirs_finite & ~finite
    assert not less_stable.any(), (
        f"{name}: handgrad gives {ours[less_stable][:3].tolist()} where torch gives {theirs[less_stable][:3].tolist()}"
    )
    more_stable = finite & ~theirs_finite
    assert not more_stable.any(), (
        f"{name}: handgrad is finite ({ours[more_stable][:3].tolist()}) where torch gives "
        f"{theirs[more_stable][:3].tolist()}: list it in MORE_STABLE and docs/reliability.md, or fix it"
    )
    both = finite & theirs_finite
    if both.any():
        # normwise: relative to the largest value, as cancellation makes small entries inexact in both
        size = theirs[both].abs().max().item()
        info = torch.finfo(dtype)
        # among the denormals precision is absolute: a few steps of the smallest one apart is equal;
        # and a gradient that sums the upstream gradient (|g| <= 1: a bias, a norm's shift) cancels
        # to near 0 in both libraries, in different orders: 64 epsilons of g apart is equal
        atol = max(rtol * size if math.isfinite(size) else 0.0, 8 * info.tiny * info.eps, 64 * info.eps)
        torch.testing.assert_close(ours[both], theirs[both], rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=repr)
@given(shape=shapes(), data=st.data())
def test_extreme_inputs_are_no_less_stable_than_torch(case, dtype, shape, data):
    # the profile derandomizes Hypothesis, so every case would draw the same few scales; shifting
    # the draw by the case's place in the catalogue spreads all scales over the ops
    shift = CASES.index(case)
    scale = SCALES[dtype][(data.draw(st.integers(0, 7), label="scale index") + shift) % len(SCALES[dtype])]
    power = POWERS[(data.draw(st.integers(0, 4), label="power index") + shift) % len(POWERS)]
    towards_one = data.draw(st.booleans(), label="towards_one")
    args = stressed(case, case.make(shape, dtype), dtype, scale, power, towards_one)
    part, where = MORE_STABLE.get(case.name.split("[")[0], (None, None))
    with torch.autograd.set_detect_anomaly(False):
        out, grads = forward_and_grads(case.handgrad, fresh(args))
        expected_out, expected_grads = forward_and_grads(case.torch, fresh(args))
    rtol = (FLOORED_TOLERANCE if case.name.startswith("binary_cross_entropy") else TOLERANCE)[dtype]
    results = [("forward", out, expected_out)] + [
        (f"gradient {index}", grad, expected) for index, (grad, expected) in enumerate(zip(grads, expected_grads))]
    for name, ours, theirs in results:
        deliberate = None
        if part is not None and name in part:
            mask = where(args)
            # a parameter's gradient sums over the samples: any deliberate sample concerns all of it
            deliberate = mask if mask.shape == ours.shape else mask.any().expand_as(ours)
        compare(f"{case.name} {name}", ours, theirs, dtype, rtol, deliberate)
