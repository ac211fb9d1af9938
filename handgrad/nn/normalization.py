"""Normalization modules with torch.nn's constructor arguments, parameters and buffers."""
import torch
from torch import nn

from handgrad import functional as F


class LayerNorm(nn.Module):
    r"""Normalizes each sample over its trailing ``normalized_shape`` dims, then scales and shifts:
    :math:`y = (x - \mu) / \sqrt{\sigma^2 + \epsilon} \cdot w + b` (biased variance).

    Args:
        normalized_shape: the trailing shape to normalize over, an int or a tuple.
        eps: added to the variance for stability. Default: ``1e-5``.
        elementwise_affine: learn a per-element ``weight`` (ones) and ``bias`` (zeros). Default: ``True``.
        bias: with ``elementwise_affine``, also learn ``bias``. Default: ``True``.
        device, dtype: where and how the parameters are created (torch's factory kwargs).

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`.
        - Output: the input's shape.
    """

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        factory_kwargs = {"device": device, "dtype": dtype}
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(self.normalized_shape, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(self.normalized_shape, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            nn.init.ones_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class _BatchNorm(nn.Module):
    r"""Normalizes each channel over the batch (and spatial dims), then scales and shifts:
    :math:`y = (x - \mu_c) / \sqrt{\sigma_c^2 + \epsilon} \cdot w_c + b_c`.

    In training the batch's statistics are used, and (with ``track_running_stats``) folded into
    the ``running_mean`` / ``running_var`` buffers; in evaluation those buffers are used.

    Args:
        num_features: channels C.
        eps: added to the variance for stability. Default: ``1e-5``.
        momentum: weight of each new batch in the running statistics; ``None`` for a cumulative
            average over all batches seen. Default: ``0.1``.
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros). Default: ``True``.
        track_running_stats: keep running statistics (and ``num_batches_tracked``); without them
            the batch's statistics are used in evaluation too. Default: ``True``.
        device, dtype: where and how the parameters and buffers are created (torch's factory kwargs).
        bias: keyword-only; with ``affine``, also learn ``bias``. Default: ``True``.

    The parameter and buffer names are torch's, so a ``state_dict`` moves between the two unchanged.
    """

    _version = 2  # torch's: version 2 state_dicts carry num_batches_tracked
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine"]

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        factory_kwargs = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory_kwargs))
            self.register_buffer("running_var", torch.ones(num_features, **factory_kwargs))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average: batch k gets weight 1/k
                momentum = 1.0 / float(self.num_batches_tracked)
        # batch statistics in training, and in evaluation when there are no running ones
        use_batch_stats = self.training or self.running_mean is None
        # the running buffers are passed only when they are read (evaluation) or updated (tracked training)
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if keep_running else None,
            self.running_var if keep_running else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps,
        )

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # state_dicts saved before torch added num_batches_tracked (version < 2) load with a count of 0
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            state_dict.setdefault(prefix + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class BatchNorm1d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + r"""
    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`.
        - Output: the input's shape.
    """

    def _check_input_dim(self, input):
        if input.dim() not in (2, 3):
            raise ValueError(f"BatchNorm1d: input must be 2-d (N, C) or 3-d (N, C, L), got {input.dim()}-d input")


class BatchNorm2d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + r"""
    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: the input's shape.
    """

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"BatchNorm2d: input must be 4-d (N, C, H, W), got {input.dim()}-d input")
