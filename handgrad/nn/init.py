"""torch.nn's default initialisation of a layer's weight and bias, shared by Linear and Conv2d."""
import math

from torch import nn


def reset_like_torch(weight, bias):
    """kaiming_uniform_(a=sqrt(5)) on the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
    same bound for the bias: what torch.nn.Linear and torch.nn.Conv2d do, draw for draw."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = math.prod(weight.shape[1:])  # in_features, or in_channels / groups * kernel area
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)
