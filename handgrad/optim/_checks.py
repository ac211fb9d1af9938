"""Hyperparameter checks shared by the optimizers: each names the optimizer and the argument."""
import numbers


def check_real(optimizer, name, value, low=None, high=None, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: {name} must be a real number, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{optimizer}: {name} must be >= {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{optimizer}: {name} must be in [{low}, {high}{bracket}, got {value}")
