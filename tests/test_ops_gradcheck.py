"""gradcheck and gradgradcheck in float64 for every op and option, on Hypothesis shapes."""
import pytest
import torch
from hypothesis import given

from catalogue import CASES
from handgrad.functional.dense import TRANSPOSED_FROM
from helpers import forward_and_grads, fresh
from strategies import Shape, shapes


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(shape=shapes())
def test_gradcheck_and_gradgradcheck(case, shape):
    args = case.make(shape, torch.float64)
    assert torch.autograd.gradcheck(case.handgrad, args)
    assert torch.autograd.gradgradcheck(case.handgrad, args)


LARGE_BATCH = Shape(batch=TRANSPOSED_FROM + 2, features=2, out_features=1, lead=(), contiguous=False, seed=3)


@pytest.mark.parametrize("case", [case for case in CASES if case.name.startswith("dense_stack")], ids=repr)
def test_dense_stack_of_a_large_batch(case):
    """From TRANSPOSED_FROM samples on, the stack multiplies in the transposed layout: the same
    gradients, first and second order, as torch's layers."""
    args = case.make(LARGE_BATCH, torch.float64)
    assert torch.autograd.gradcheck(case.handgrad, args)
    assert torch.autograd.gradgradcheck(case.handgrad, args)
    out, grads = forward_and_grads(case.handgrad, fresh(args))
    expected_out, expected_grads = forward_and_grads(case.torch, fresh(args))
    assert out.is_contiguous()
    torch.testing.assert_close(out, expected_out, rtol=1e-10, atol=1e-12)
    for grad, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)
