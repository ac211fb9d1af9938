"""Thin nn.Module classes with torch.nn's names, signatures and parameters."""
from torch.nn import Flatten  # plain reshaping: no gradient to write by hand

from handgrad.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from handgrad.nn.conv import Conv2d
from handgrad.nn.dropout import Dropout
from handgrad.nn.linear import Linear
from handgrad.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from handgrad.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from handgrad.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout", "LayerNorm", "BatchNorm1d", "BatchNorm2d",
]
