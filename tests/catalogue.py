"""One catalogue of op cases, reused by every op test (parity, gradcheck, vmap, compile).

Each case names a handgrad op, torch's own op, and an input maker: given a Shape
and a dtype it returns the op's tensor arguments, the differentiable ones with
requires_grad set. Options (weights, ignore_index hits, label smoothing,
reductions, dims) are separate cases, so every test covers every option.
"""
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as TF

import handgrad.functional as HF


@dataclass(frozen=True)
class OpCase:
    name: str
    handgrad: Callable
    torch: Callable
    make: Callable  # (Shape, dtype) -> tuple of tensors
    batched: bool = True  # can be vmapped over dim 0 of its input (and its per-sample target)
    per_sample_args: int = 1  # how many leading arguments are per-sample (input, and a cost's target)

    def __repr__(self):
        return self.name

    def in_dims(self, args):
        """vmap's in_dims: dim 0 of the per-sample arguments, the rest (weights, bias) shared."""
        return tuple(0 if i < self.per_sample_args else None for i in range(len(args)))


def _tensor(values, contiguous):
    """values, or a non-contiguous tensor holding the same values."""
    if contiguous or values.dim() == 0:
        return values
    wide = torch.empty(*values.shape[:-1], values.shape[-1] * 2, dtype=values.dtype)
    wide[..., ::2] = values
    out = wide[..., ::2]
    assert not out.is_contiguous() or values.numel() <= 1
    return out


def randn(shape, dims, dtype, grad=True, scale=1.0, seed_offset=0):
    gen = torch.Generator().manual_seed(shape.seed + seed_offset)
    values = torch.randn(*dims, generator=gen, dtype=torch.float64).mul_(scale).to(dtype)
    return _tensor(values, shape.contiguous).requires_grad_(grad)


def rand(shape, dims, dtype, grad=False, low=0.0, high=1.0, seed_offset=1):
    gen = torch.Generator().manual_seed(shape.seed + seed_offset)
    values = (torch.rand(*dims, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)
    return _tensor(values, shape.contiguous).requires_grad_(grad)


def class_indices(shape, with_ignored=False):
    gen = torch.Generator().manual_seed(shape.seed + 2)
    target = torch.randint(shape.features, (shape.batch,), generator=gen)
    if with_ignored:
        target[0] = -100 if shape.batch > 1 else target[0]  # keep at least one sample counted
    return target


def probabilities(shape, dtype, grad=True):
    gen = torch.Generator().manual_seed(shape.seed + 3)
    values = torch.softmax(torch.randn(shape.batch, shape.features, generator=gen, dtype=torch.float64), 1)
    return _tensor(values.to(dtype), shape.contiguous).requires_grad_(grad)


def class_weight(shape, dtype):
    gen = torch.Generator().manual_seed(shape.seed + 4)
    return torch.rand(shape.features, generator=gen, dtype=torch.float64).add_(0.5).to(dtype)


REDUCTIONS = ("mean", "sum", "none")


def _cases():
    cases = []

    def add(name, hg, th, make, batched=True):
        is_cost = name.startswith(("mse", "cross_entropy", "nll", "binary", "bce"))
        cases.append(OpCase(name, hg, th, make, batched, per_sample_args=2 if is_cost else 1))

    # dense
    def linear_inputs(bias, lead):
        def make(s, dtype):
            dims = (*lead(s), s.batch, s.features)
            args = [randn(s, dims, dtype), randn(s, (s.out_features, s.features), dtype, scale=0.5, seed_offset=5)]
            if bias:
                args.append(rand(s, (s.out_features,), dtype, grad=True, low=-1, seed_offset=6))
            return tuple(args)
        return make

    for bias in (True, False):
        add(f"linear[bias={bias}]", HF.linear, TF.linear, linear_inputs(bias, lambda s: ()))
        add(f"linear[lead,bias={bias}]", HF.linear, TF.linear, linear_inputs(bias, lambda s: s.lead))
    add("linear[1d input]", HF.linear, TF.linear,
        lambda s, d: (randn(s, (s.features,), d), randn(s, (s.out_features, s.features), d, seed_offset=5)), batched=False)

    def stack_inputs(s, dtype):
        sizes = [s.features, s.out_features + 2, s.out_features, 3]
        params = []
        for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            params += [randn(s, (b, a), dtype, scale=0.7, seed_offset=10 + layer),
                       rand(s, (b,), dtype, grad=True, low=-0.5, high=0.5, seed_offset=20 + layer)]
        return (randn(s, (s.batch, s.features), dtype), *params)

    def torch_stack(activation):
        def run(x, *params):
            torch_activation = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                                "leaky_relu": TF.leaky_relu}[activation]
            for layer in range(0, len(params), 2):
                x = TF.linear(x, params[layer], params[layer + 1])
                x = torch_activation(x) if layer + 2 < len(params) else x
            return x
        return run

    for activation in ("sigmoid", "tanh", "relu", "leaky_relu"):
        add(f"dense_stack[{activation}]",
            lambda x, *p, a=activation: HF.dense_stack(x, p[0::2], p[1::2], a), torch_stack(activation), stack_inputs)

    # activations
    def act_inputs(s, dtype):
        return (randn(s, (s.batch, s.features), dtype, scale=2.0),)

    for name, hg, th in (("sigmoid", HF.sigmoid, torch.sigmoid), ("tanh", HF.tanh, torch.tanh),
                         ("relu", HF.relu, TF.relu)):
        add(name, hg, th, act_inputs)
    for slope in (0.01, 0.2, -0.3, 1.5):
        add(f"leaky_relu[{slope}]", lambda x, a=slope: HF.leaky_relu(x, a),
            lambda x, a=slope: TF.leaky_relu(x, a), act_inputs)
    for dim in (0, 1, -1):
        def cube(s, dtype):
            return (randn(s, (s.batch, s.features, 3), dtype, scale=2.0),)
        add(f"softmax[dim={dim}]", lambda x, d=dim: HF.softmax(x, d), lambda x, d=dim: TF.softmax(x, d), cube)
        add(f"log_softmax[dim={dim}]", lambda x, d=dim: HF.log_softmax(x, d),
            lambda x, d=dim: TF.log_softmax(x, d), cube)

    # costs
    for r in REDUCTIONS:
        add(f"mse_loss[{r}]", lambda x, t, r=r: HF.mse_loss(x, t, reduction=r),
            lambda x, t, r=r: TF.mse_loss(x, t, reduction=r),
            lambda s, d: (randn(s, (s.batch, s.features), d), rand(s, (s.batch, s.features), d, grad=True)))

        for opts in ({}, {"weight": True}, {"ignore": True}, {"label_smoothing": 0.2},
                     {"weight": True, "ignore": True, "label_smoothing": 0.1}):
            def ce_make(s, d, opts=opts):
                args = [randn(s, (s.batch, s.features), d, scale=2.0), class_indices(s, opts.get("ignore", False))]
                args.append(class_weight(s, d) if opts.get("weight") else None)
                return tuple(args)

            kw = {"reduction": r, "label_smoothing": opts.get("label_smoothing", 0.0)}
            tag = ",".join(sorted(opts)) or "plain"
            add(f"cross_entropy[indices,{tag},{r}]", lambda x, t, w, kw=kw: HF.cross_entropy(x, t, w, **kw),
                lambda x, t, w, kw=kw: TF.cross_entropy(x, t, w, **kw), ce_make)

        for opts in ({}, {"weight": True}, {"label_smoothing": 0.3}):
            def soft_make(s, d, opts=opts):
                args = [randn(s, (s.batch, s.features), d, scale=2.0), probabilities(s, d)]
                args.append(class_weight(s, d) if opts.get("weight") else None)
                return tuple(args)

            kw = {"reduction": r, "label_smoothing": opts.get("label_smoothing", 0.0)}
            tag = ",".join(sorted(opts)) or "plain"
            add(f"cross_entropy[probs,{tag},{r}]", lambda x, t, w, kw=kw: HF.cross_entropy(x, t, w, **kw),
                lambda x, t, w, kw=kw: TF.cross_entropy(x, t, w, **kw), soft_make)

        for opts in ({}, {"weight": True}, {"ignore": True}):
            def nll_make(s, d, opts=opts):
                log_prob = torch.log_softmax(randn(s, (s.batch, s.features), d, grad=False), 1)
                args = [log_prob.requires_grad_(), class_indices(s, opts.get("ignore", False))]
                args.append(class_weight(s, d) if opts.get("weight") else None)
                return tuple(args)

            tag = ",".join(sorted(opts)) or "plain"
            add(f"nll_loss[{tag},{r}]", lambda x, t, w, r=r: HF.nll_loss(x, t, w, reduction=r),
                lambda x, t, w, r=r: TF.nll_loss(x, t, w, reduction=r), nll_make)

        for weighted in (False, True):
            def bce_make(s, d, weighted=weighted):
                args = [rand(s, (s.batch, s.features), d, grad=True, low=0.05, high=0.95, seed_offset=7),
                        rand(s, (s.batch, s.features), d, grad=True)]
                args.append(rand(s, (s.features,), d, low=0.5, high=1.5, seed_offset=8) if weighted else None)
                return tuple(args)

            add(f"binary_cross_entropy[weight={weighted},{r}]",
                lambda x, t, w, r=r: HF.binary_cross_entropy(x, t, w, reduction=r),
                lambda x, t, w, r=r: TF.binary_cross_entropy(x, t, w, reduction=r), bce_make)

        for opts in ({}, {"weight": True}, {"pos_weight": True}, {"weight": True, "pos_weight": True}):
            def logits_make(s, d, opts=opts):
                return (randn(s, (s.batch, s.features), d, scale=3.0), rand(s, (s.batch, s.features), d, grad=True),
                        rand(s, (s.features,), d, low=0.5, high=1.5, seed_offset=8) if opts.get("weight") else None,
                        rand(s, (s.features,), d, low=0.5, high=3.0, seed_offset=9) if opts.get("pos_weight") else None)

            tag = ",".join(sorted(opts)) or "plain"
            add(f"bce_with_logits[{tag},{r}]",
                lambda x, t, w, p, r=r: HF.binary_cross_entropy_with_logits(x, t, w, reduction=r, pos_weight=p),
                lambda x, t, w, p, r=r: TF.binary_cross_entropy_with_logits(x, t, w, reduction=r, pos_weight=p),
                logits_make)

    # (N, C, d1, d2) inputs with (N, d1, d2) targets: the segmentation form. Not vmapped: a sample's
    # (C, d1, d2) slice is itself read as (N, C, d1) by torch.
    def image_indices(s):
        target = torch.randint(s.features, (s.batch, 2, 2), generator=torch.Generator().manual_seed(s.seed + 2))
        target[0, 0, 0] = -100  # one ignored position
        return target

    for r in ("mean", "none"):
        add(f"cross_entropy[(N,C,d1,d2),ignore,label_smoothing,weight,{r}]",
            lambda x, t, w, r=r: HF.cross_entropy(x, t, w, reduction=r, label_smoothing=0.1),
            lambda x, t, w, r=r: TF.cross_entropy(x, t, w, reduction=r, label_smoothing=0.1),
            lambda s, d: (randn(s, (s.batch, s.features, 2, 2), d, scale=2.0), image_indices(s), class_weight(s, d)),
            batched=False)
    add("nll_loss[(N,C,d1,d2),ignore,sum]", lambda x, t: HF.nll_loss(x, t, reduction="sum"),
        lambda x, t: TF.nll_loss(x, t, reduction="sum"),
        lambda s, d: (randn(s, (s.batch, s.features, 2, 2), d), image_indices(s)), batched=False)
    add("cross_entropy[(N,C,d),probs,mean]", HF.cross_entropy, TF.cross_entropy,
        lambda s, d: (randn(s, (s.batch, s.features, 3), d),
                      torch.softmax(randn(s, (s.batch, s.features, 3), d, grad=False, seed_offset=3), 1).requires_grad_()),
        batched=False)

    # (C,) inputs with a () target
    for r in REDUCTIONS:
        add(f"cross_entropy[1d,{r}]", lambda x, t, r=r: HF.cross_entropy(x, t, reduction=r),
            lambda x, t, r=r: TF.cross_entropy(x, t, reduction=r),
            lambda s, d: (randn(s, (s.features,), d), class_indices(s)[0]), batched=False)
        add(f"nll_loss[1d,{r}]", lambda x, t, r=r: HF.nll_loss(x, t, reduction=r),
            lambda x, t, r=r: TF.nll_loss(x, t, reduction=r),
            lambda s, d: (randn(s, (s.features,), d), class_indices(s)[0]), batched=False)
    return cases


def _extension_cases():
    """Cases of op families kept in their own catalogue modules (tests/catalogue_*.py)."""
    import importlib
    import pathlib

    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("catalogue_*.py")):
        cases += importlib.import_module(path.stem).CASES
    return cases


CASES = _cases() + _extension_cases()
