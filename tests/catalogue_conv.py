"""Catalogue cases for convolution, pooling, dropout and normalization.

Image sizes come from the shared Shape: channels from features and out_features, the
kernel and the odd extra rows and columns from the seed, so Hypothesis varies them all.
Each stride / padding / dilation / groups / mode option is its own case.
"""
import torch
import torch.nn.functional as TF

import handgrad.functional as HF
from catalogue import OpCase, rand, randn


def _kernel(s):
    """A (kH, kW) kernel of 1 to 3 taps a side, drawn from the seed."""
    return 1 + (s.seed // 5) % 3, 1 + (s.seed // 15) % 3


def _spatial(s, reach, padding=(0, 0)):
    """(H, W) that fits a window reaching ``reach`` pixels, plus 0 to 3 extra rows and columns."""
    extra = (s.seed % 4, (s.seed // 4) % 4)
    return tuple(max(r - p, 1) + e for r, p, e in zip(reach, padding, extra))  # no window all padding


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv_case(name, bias=True, unbatched=False, **options):
    stride, dilation = _pair(options.get("stride", 1)), _pair(options.get("dilation", 1))
    padding = options.get("padding", 0)
    groups = options.get("groups", 1)

    def make(s, dtype):
        kernel = _kernel(s)
        in_channels = groups * (1 + s.features % 2)
        out_channels = groups * (1 + s.out_features % 2)
        reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        pad = (0, 0) if isinstance(padding, str) else _pair(padding)
        size = _spatial(s, reach, pad)
        dims = (in_channels, *size) if unbatched else (min(s.batch, 2), in_channels, *size)
        args = [randn(s, dims, dtype),
                randn(s, (out_channels, in_channels // groups, *kernel), dtype, scale=0.5, seed_offset=5)]
        if bias:
            args.append(rand(s, (out_channels,), dtype, grad=True, low=-1, seed_offset=6))
        return tuple(args)

    if bias:
        return OpCase(f"conv2d[{name}]", lambda x, w, b: HF.conv2d(x, w, b, **options),
                      lambda x, w, b: TF.conv2d(x, w, b, **options), make, batched=not unbatched)
    return OpCase(f"conv2d[{name}]", lambda x, w: HF.conv2d(x, w, **options),
                  lambda x, w: TF.conv2d(x, w, **options), make, batched=not unbatched)


def _pool_case(op, name, unbatched=False, pick_output=False, **options):
    kernel, dilation = _pair(options["kernel_size"]), _pair(options.get("dilation", 1))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padding = _pair(options.get("padding", 0))

    def make(s, dtype):
        channels = 1 + s.features % 3
        size = _spatial(s, reach, padding)
        dims = (channels, *size) if unbatched else (min(s.batch, 2), channels, *size)
        return (randn(s, dims, dtype),)

    hg, th = getattr(HF, op), getattr(TF, op)
    if pick_output:  # return_indices: the indices are checked in test_conv_ops
        return OpCase(f"{op}[{name}]", lambda x: hg(x, **options)[0], lambda x: th(x, **options)[0], make,
                      batched=not unbatched)
    return OpCase(f"{op}[{name}]", lambda x: hg(x, **options), lambda x: th(x, **options), make,
                  batched=not unbatched)


def _seeded(dropout, p, training=True):
    """dropout with the global CPU generator reseeded, so every call (and gradcheck's) draws one mask;
    the generator's state is put back after. (torch.manual_seed would also seed every device: slower.)"""
    def run(x):
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(1234)
        try:
            return dropout(x, p, training)
        finally:
            generator.set_state(state)
    return run


def _dropout_case(name, p, training=True):
    def make(s, dtype):
        return (randn(s, (s.batch, s.features, 3), dtype),)

    # torch's CPU dropout draws bernoulli(1 - p) into an empty_like(input), as handgrad does,
    # so with the same seed the masks agree; batched=False: vmap cannot draw random numbers
    return OpCase(f"dropout[{name}]", _seeded(HF.dropout, p, training), _seeded(TF.dropout, p, training), make,
                  batched=False)


def _layer_norm_case(name, trailing, weight=True, bias=True):
    def make(s, dtype):
        normalized = (s.features,) if trailing == 1 else (s.batch, s.features)
        dims = (*s.lead, s.batch, s.features) if trailing == 1 else (*s.lead, 2, s.batch, s.features)
        return (randn(s, dims, dtype),
                rand(s, normalized, dtype, grad=True, low=0.5, high=1.5, seed_offset=5) if weight else None,
                randn(s, normalized, dtype, seed_offset=6) if bias else None)

    def shape_of(x):
        return tuple(x.shape[-trailing:])

    return OpCase(f"layer_norm[{name}]", lambda x, w, b: HF.layer_norm(x, shape_of(x), w, b),
                  lambda x, w, b: TF.layer_norm(x, shape_of(x), w, b), make)


def _batch_norm_case(name, spatial, training, affine=True, running=True):
    def make(s, dtype):
        channels = 1 + s.features % 3
        dims = (s.batch + 1, channels, *spatial(s))  # at least 2 values per channel
        args = [randn(s, dims, dtype, scale=2.0)]
        if running:
            args += [randn(s, (channels,), dtype, grad=False, seed_offset=7),
                     rand(s, (channels,), dtype, low=0.5, high=2.0, seed_offset=8)]
        else:
            args += [None, None]
        if affine:
            args += [rand(s, (channels,), dtype, grad=True, low=0.5, high=1.5, seed_offset=5),
                     randn(s, (channels,), dtype, seed_offset=6)]
        else:
            args += [None, None]
        return tuple(args)

    return OpCase(f"batch_norm[{name}]",
                  lambda x, m, v, w, b: HF.batch_norm(x, m, v, w, b, training=training, momentum=0.2),
                  lambda x, m, v, w, b: TF.batch_norm(x, m, v, w, b, training=training, momentum=0.2),
                  make, batched=False)  # statistics span the batch: one sample alone is not a batch


def _cases():
    cases = [
        _conv_case("plain"),
        _conv_case("no bias", bias=False),
        _conv_case("stride=2", stride=2),
        _conv_case("padding=1", padding=1),
        _conv_case("stride=(2,1),padding=(1,2)", stride=(2, 1), padding=(1, 2)),
        _conv_case("dilation=2", dilation=2),
        _conv_case("dilation=(1,2),stride=3", dilation=(1, 2), stride=3),
        _conv_case("groups=2", groups=2),
        _conv_case("groups=3,no bias", bias=False, groups=3, stride=2),
        _conv_case("stride=2,padding=1,dilation=2,groups=2", stride=2, padding=1, dilation=2, groups=2),
        _conv_case("padding=same", padding="same"),
        _conv_case("padding=same,dilation=(2,1)", padding="same", dilation=(2, 1)),
        _conv_case("padding=valid", padding="valid"),
        _conv_case("unbatched", unbatched=True, padding=1),
    ]
    for op in ("max_pool2d", "avg_pool2d"):
        cases += [
            _pool_case(op, "k=2", kernel_size=2),
            _pool_case(op, "k=3,s=2,p=1", kernel_size=3, stride=2, padding=1),
            _pool_case(op, "k=(2,3),s=1 overlapping", kernel_size=(2, 3), stride=1),
            _pool_case(op, "k=3,s=2,p=1,ceil_mode", kernel_size=3, stride=2, padding=1, ceil_mode=True),
            _pool_case(op, "k=2,s=(1,2),ceil_mode", kernel_size=2, stride=(1, 2), ceil_mode=True),
            _pool_case(op, "unbatched", unbatched=True, kernel_size=2, stride=1),
        ]
    cases += [
        _pool_case("max_pool2d", "k=2,dilation=2,p=1", kernel_size=2, dilation=2, padding=1),
        _pool_case("max_pool2d", "return_indices", pick_output=True, kernel_size=2, return_indices=True),
        _pool_case("avg_pool2d", "k=3,s=2,p=1,count_include_pad=False", kernel_size=3, stride=2, padding=1,
                   count_include_pad=False),
        _pool_case("avg_pool2d", "k=3,p=1,ceil_mode,count_include_pad=False", kernel_size=3, stride=2, padding=1,
                   ceil_mode=True, count_include_pad=False),
        _pool_case("avg_pool2d", "divisor_override=3", kernel_size=2, stride=1, padding=1, divisor_override=3),
    ]
    cases += [
        _dropout_case("p=0.3", 0.3),
        _dropout_case("p=0.5", 0.5),
        _dropout_case("p=1", 1.0),
        _dropout_case("p=0", 0.0),
        _dropout_case("eval", 0.5, training=False),
    ]
    cases += [
        _layer_norm_case("last dim", 1),
        _layer_norm_case("last dim,no affine", 1, weight=False, bias=False),
        _layer_norm_case("last dim,weight only", 1, bias=False),
        _layer_norm_case("last 2 dims", 2),
    ]
    for training in (True, False):
        mode = "train" if training else "eval"
        cases += [
            _batch_norm_case(f"{mode},(N,C)", lambda s: (), training),
            _batch_norm_case(f"{mode},(N,C,L)", lambda s: (1 + s.seed % 3,), training),
            _batch_norm_case(f"{mode},(N,C,H,W)", lambda s: (1 + s.seed % 3, 2), training),
            _batch_norm_case(f"{mode},(N,C,H,W),no affine", lambda s: (2, 1 + s.seed % 2), training, affine=False),
        ]
    cases.append(_batch_norm_case("train,no running stats", lambda s: (2,), True, running=False))
    return cases


CASES = _cases()
