"""Thin nn.Module classes with torch.nn's names, signatures and parameters."""
from handgrad.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from handgrad.nn.linear import Linear
from handgrad.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss

__all__ = [
    "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
]
