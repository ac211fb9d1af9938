"""Hand-written update rules, subclassing torch.optim.Optimizer."""
from handgrad.optim.adam import Adam
from handgrad.optim.base import HandgradOptimizer
from handgrad.optim.gradient_descent import GradientDescent

__all__ = ["GradientDescent", "Adam", "HandgradOptimizer"]
