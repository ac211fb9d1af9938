"""Every op and option: forward and every input's gradient equal torch's own op."""
import pytest
import torch

from catalogue import CASES
from helpers import forward_and_grads, fresh
from strategies import DEFAULT, Shape

TOLERANCE = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}
SHAPES = [DEFAULT, Shape(batch=1, features=3, out_features=2, lead=(), contiguous=True, seed=7)]


@pytest.mark.parametrize("shape", SHAPES, ids=["noncontiguous", "batch1"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_forward_and_gradients_match_torch(case, dtype, shape):
    args = case.make(shape, dtype)
    out, grads = forward_and_grads(case.handgrad, fresh(args))
    expected_out, expected_grads = forward_and_grads(case.torch, fresh(args))
    assert out.dtype == expected_out.dtype and out.shape == expected_out.shape
    torch.testing.assert_close(out, expected_out, **TOLERANCE[dtype])
    assert len(grads) == len(expected_grads) > 0
    for grad, expected in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected, **TOLERANCE[dtype])
