"""gradcheck and gradgradcheck in float64 for every op and option, on Hypothesis shapes."""
import pytest
import torch
from hypothesis import given

from catalogue import CASES
from strategies import shapes


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(shape=shapes())
def test_gradcheck_and_gradgradcheck(case, shape):
    args = case.make(shape, torch.float64)
    assert torch.autograd.gradcheck(case.handgrad, args)
    assert torch.autograd.gradgradcheck(case.handgrad, args)

