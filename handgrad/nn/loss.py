"""Loss modules with torch.nn's names, constructor arguments and buffers."""
from torch import nn

from handgrad import functional as F
from handgrad.functional._checks import check_reduction


class _Loss(nn.Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error between input and target (same shape).

    Args:
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits (N, C) or (C,) against class indices or class probabilities.

    Args:
        weight: per-class rescaling weight of shape (C,). Default: ``None``.
        ignore_index: class index whose samples contribute nothing. Default: ``-100``.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        label_smoothing: mass in [0, 1] spread uniformly over the classes. Default: ``0.0``.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(
            input, target, weight=self.weight, ignore_index=self.ignore_index,
            reduction=self.reduction, label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood (log loss) of log-probabilities (N, C) or (C,) against class indices.

    Args:
        weight: per-class rescaling weight of shape (C,). Default: ``None``.
        ignore_index: class index whose samples contribute nothing. Default: ``-100``.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] against targets of the same shape.

    Args:
        weight: rescaling weight broadcast to the input. Default: ``None``.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits against targets of the same shape, with a built-in sigmoid.

    Args:
        weight: rescaling weight broadcast to the input. Default: ``None``.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        pos_weight: weight of the positive examples, broadcast along the classes. Default: ``None``.
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )
