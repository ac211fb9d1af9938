"""Hypothesis strategies for the shapes every op test draws from."""
from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Shape:
    batch: int  # N, 1 included
    features: int  # in_features, or C classes
    out_features: int
    lead: tuple  # extra leading dims, for linear's (*, in_features)
    contiguous: bool
    seed: int


@st.composite
def shapes(draw, max_batch=4, max_features=5):
    return Shape(
        batch=draw(st.integers(1, max_batch)),
        features=draw(st.integers(2, max_features)),
        out_features=draw(st.integers(1, 4)),
        lead=tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
        contiguous=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


DEFAULT = Shape(batch=3, features=5, out_features=4, lead=(2,), contiguous=False, seed=0)
