"""The checks, each run on one input set: what backward returned, gradcheck,
gradgradcheck, the reference op; and vmap, run once over stacked input sets."""
import warnings
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch.autograd import Function
from torch.autograd.gradcheck import GradcheckError

from handgrad.check.crash import describe
from handgrad.check.jacobian import NONE_FOR_GRAD, as_outputs, explain
from handgrad.check.report import FAIL, PASS, SKIP
from handgrad.check.target import uses_setup_context

# The reference is the same math computed another way, so float64 rounding is the only
# allowed difference; finite differences (gradcheck) need the looser atol/rtol the caller gives.
REFERENCE_TOLERANCE = dict(rtol=1e-7, atol=1e-9)
FULL_JACOBIAN = 10_000  # input elements x output elements beyond which gradcheck runs in fast mode


@dataclass
class Outcome:
    status: str
    details: list = field(default_factory=list)
    error: Optional[BaseException] = None


def crashed(error, target):
    return Outcome(FAIL, [f"crashed: {describe(error, target.source)}"], error)


def _user_backward(function):
    """The method the user wrote: backward, or vjp (its alias in torch.autograd.Function)."""
    return "vjp" if function.vjp is not Function.vjp else "backward"


def _recording(function, returned):
    """A subclass of function whose backward also appends what the user's backward returned."""
    name = _user_backward(function)
    original = getattr(function, name)

    def backward(ctx, *grad_outputs):
        grads = original(ctx, *grad_outputs)
        returned.append(grads)
        return grads

    return type(function.__name__, (function,), {name: staticmethod(backward), "__qualname__": function.__qualname__})


def _broadcasts_to(shape, larger):
    try:
        return torch.broadcast_shapes(shape, larger) == larger
    except RuntimeError:
        return False


def _shape_problems(target, args, diff, grads):
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    if len(grads) != len(args):
        return [f"backward returned {len(grads)} gradients, forward takes {len(args)} inputs: "
                f"return one per input (None for an input that needs none)"]
    problems = []
    for i in diff:
        label, grad, input = target.input_label(i), grads[i], args[i]
        if grad is None:
            problems.append(f"{label}: {NONE_FOR_GRAD}")
        elif not isinstance(grad, torch.Tensor):
            problems.append(f"{label}: backward returned {type(grad).__name__}, expected a tensor")
        elif grad.dtype != input.dtype:
            problems.append(f"{label}: backward returned dtype {grad.dtype}, expected {input.dtype}, "
                            f"the dtype of the input (autograd would cast it silently, losing precision)")
        elif grad.shape != input.shape:
            hint = ""
            if _broadcasts_to(input.shape, grad.shape):
                hint = "; sum it over the batch (autograd would sum it silently, hiding the mistake)"
            problems.append(f"{label}: backward returned shape {tuple(grad.shape)}, "
                            f"expected {tuple(input.shape)}, the shape of the input{hint}")
    return problems


def gradient_shapes(target, inputs, diff):
    """One gradient per input, None only where none is needed, each of its input's shape.

    Read from the backward itself: autograd sums a gradient that broadcasts to a
    larger shape without a word, so an unreduced bias gradient would pass gradcheck.
    """
    returned = []
    recording = _recording(target.function, returned)
    try:
        outputs = as_outputs(recording.apply(*inputs.args))
        torch.autograd.grad(outputs, [inputs.args[i] for i in diff], inputs.cotangents, allow_unused=True)
        error = None
    except Exception as raised:  # autograd also raises when backward returns a wrong shape
        if not returned:
            return crashed(raised, target)
        error = raised
    problems = _shape_problems(target, inputs.args, diff, returned[0])
    if problems:
        return Outcome(FAIL, problems, error)
    return crashed(error, target) if error is not None else Outcome(PASS)


def _first_lines(error, count=3):
    return [line for line in str(error).strip().splitlines() if line.strip()][:count]


def _jacobian_size(inputs, diff):
    return sum(inputs.args[i].numel() for i in diff) * sum(c.numel() for c in inputs.cotangents)


def gradcheck(target, inputs, diff, generator, atol, rtol, seed=0):
    """torch.autograd.gradcheck; on a mismatch, explain names the wrong input and element."""
    # a whole Jacobian costs one forward per input element and one backward per output
    # element; past FULL_JACOBIAN, fast mode compares u^T J v for seeded random u, v instead
    fast = _jacobian_size(inputs, diff) > FULL_JACOBIAN
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            torch.autograd.gradcheck(target.call, tuple(inputs.args), atol=atol, rtol=rtol, fast_mode=fast)
        return Outcome(PASS)
    except GradcheckError as error:
        mismatch = error
    except Exception as error:
        return crashed(error, target)
    try:
        lines = explain(target, target.call, inputs.args, diff, inputs.cotangents, generator, atol, rtol)
    except Exception as error:
        return crashed(error, target)
    return Outcome(FAIL, lines or _first_lines(mismatch), mismatch)


def _backward_as_function(call, count, diff):
    """(*inputs, *grad_outputs) -> the gradient of every differentiated input, as a differentiable function."""

    def first_order(*args_and_grads):
        args, grad_outputs = list(args_and_grads[:count]), list(args_and_grads[count:])
        with torch.enable_grad():  # explain perturbs detached copies under no_grad
            for i in diff:
                if not args[i].requires_grad:
                    args[i] = args[i].detach().requires_grad_()
            outputs = as_outputs(call(*args))
            grads = torch.autograd.grad(outputs, [args[i] for i in diff], grad_outputs,
                                        create_graph=True, allow_unused=True)
        return tuple(torch.zeros_like(args[i]) if g is None else g for i, g in zip(diff, grads))

    return first_order


def gradgradcheck(target, inputs, diff, generator, atol, rtol, seed=0):
    """torch.autograd.gradgradcheck with the seeded upstream gradients, so a failure reproduces."""
    grad_outputs = [c.clone().requires_grad_() for c in inputs.cotangents]
    try:
        # fast mode compares u^T J v for random u, v instead of whole second-order Jacobians
        # (which grow with the square of the input); fork_rng seeds those u, v so a failure reproduces
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            torch.autograd.gradgradcheck(target.call, tuple(inputs.args), grad_outputs,
                                         atol=atol, rtol=rtol, fast_mode=True)
        return Outcome(PASS)
    except GradcheckError as error:
        mismatch = error
    except Exception as error:
        return crashed(error, target)
    count = len(inputs.args)
    first_order = _backward_as_function(target.call, count, diff)
    args = list(inputs.args) + grad_outputs
    outer = [torch.randn(inputs.args[i].shape, generator=generator, dtype=torch.float64) for i in diff]

    def label(i):
        return target.input_label(i) if i < count else f"grad_output {i - count}"

    try:
        lines = explain(target, first_order, args, diff + list(range(count, len(args))), outer,
                        generator, atol, rtol, names=label, none_is_zero=True, tables=False)
    except Exception as error:
        return crashed(error, target)
    lines = ["the derivative of your backward (double backward) disagrees with finite differences:"] + lines
    return Outcome(FAIL, lines if len(lines) > 1 else _first_lines(mismatch), mismatch)


def _worst(label, expected, computed, rtol, atol):
    """A line for the element of computed farthest from expected, or None when all are close."""
    if computed is None:
        computed = torch.zeros_like(expected)
    if computed.shape != expected.shape:
        return f"{label}: shape {tuple(computed.shape)}, expected {tuple(expected.shape)}"
    expected, computed = expected.detach().to(torch.float64), computed.detach().to(torch.float64)
    error = (computed - expected).abs()
    bound = atol + rtol * expected.abs()
    wrong = ~(error <= bound)  # nan counts as wrong
    if not wrong.any():
        return None
    flat = int(torch.argmax(torch.where(wrong, error / bound, 0).nan_to_num(float("inf"))))
    index = [int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape)] if expected.dim() else []
    e, c = expected.reshape(-1)[flat].item(), computed.reshape(-1)[flat].item()
    return (f"{label}: wrong at {index}: expected {e:.6g}, computed {c:.6g} "
            f"({int(wrong.sum())} of {expected.numel()} elements off)")


def _fresh_leaves(args):
    return [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]


def forward_and_grads(call, args, diff, cotangents):
    """Outputs of call(*args) and the gradient of every differentiated input for the given upstream gradients."""
    args = _fresh_leaves(args)
    outputs = as_outputs(call(*args))
    grads = torch.autograd.grad(outputs, [args[i] for i in diff], cotangents, allow_unused=True)
    return [o.detach() for o in outputs], list(grads)


def reference(target, reference, inputs, diff):
    """(forward Outcome, gradients Outcome): the outputs and every input's gradient against the reference."""
    try:
        expected_out, expected_grads = forward_and_grads(reference, inputs.args, diff, inputs.cotangents)
    except Exception as error:
        bad = Outcome(FAIL, [f"the reference crashed: {describe(error)}"], error)
        return bad, bad
    try:
        with torch.no_grad():
            outputs = [o.detach() for o in as_outputs(target.call(*_fresh_leaves(inputs.args)))]
    except Exception as error:
        return crashed(error, target), crashed(error, target)
    if len(outputs) != len(expected_out):
        bad = Outcome(FAIL, [f"fn returns {len(outputs)} outputs, the reference {len(expected_out)}"])
        return bad, bad
    lines = [_worst(f"output {k}", e, o, **REFERENCE_TOLERANCE) for k, (e, o) in enumerate(zip(expected_out, outputs))]
    lines = [line for line in lines if line]
    forward = Outcome(FAIL, lines) if lines else Outcome(PASS)
    try:
        _, grads = forward_and_grads(target.call, inputs.args, diff, inputs.cotangents)
    except Exception as error:
        return forward, crashed(error, target)
    lines = [_worst(target.input_label(i), e if e is not None else torch.zeros_like(inputs.args[i]), g,
                    **REFERENCE_TOLERANCE) for i, e, g in zip(diff, expected_grads, grads)]
    lines = [line for line in lines if line]
    return forward, (Outcome(FAIL, lines) if lines else Outcome(PASS))


def vmap_rule_missing(function):
    """Why torch.func.vmap cannot run function, or None when it can."""
    if not uses_setup_context(function):
        return (f"{function.__name__}.forward takes ctx; torch.func needs forward(*inputs) "
                f"with a separate setup_context(ctx, inputs, output)")
    if not getattr(function, "generate_vmap_rule", False) and function.vmap is Function.vmap:
        return (f"{function.__name__} has no vmap rule; set generate_vmap_rule = True "
                f"in the class (or write a vmap staticmethod)")
    return None


def _unsupported(error):
    """torch.func's own refusals (no rule, data-dependent control flow), as opposed to a bug in fn."""
    words = ("vmap", "functorch", "setup_context", "generate_vmap_rule", "torch.func")
    return isinstance(error, RuntimeError) and any(w in str(error) for w in words)


def _first_sentence(error, limit=160):
    text = str(error).strip().splitlines()[0]
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def vmap(target, samples, diff):
    """torch.func.vmap over input sets stacked along a new dim 0: outputs and per-sample vjp against a loop."""
    if target.function is not None:
        reason = vmap_rule_missing(target.function)
        if reason:
            return Outcome(SKIP, [f"not supported: {reason}"])
    count = len(samples[0].args)
    is_tensor = [isinstance(a, torch.Tensor) for a in samples[0].args]
    stacked = [torch.stack([s.args[i].detach() for s in samples]) if is_tensor[i] else samples[0].args[i]
               for i in range(count)]
    stacked_grads = [torch.stack(list(c)) for c in zip(*(s.cotangents for s in samples))]

    def per_sample(*flat):
        args, grad_outputs = list(flat[:count]), list(flat[count:])

        def of_differentiated(*primals):
            full = list(args)
            for i, p in zip(diff, primals):
                full[i] = p
            return target.call(*full)

        out, pullback = torch.func.vjp(of_differentiated, *[args[i] for i in diff])
        return out, pullback(tuple(grad_outputs) if isinstance(out, (tuple, list)) else grad_outputs[0])

    in_dims = tuple(0 if t else None for t in is_tensor) + (0,) * len(stacked_grads)
    try:
        with warnings.catch_warnings():  # torch's "no batching rule, performance drop" notes are not the user's concern
            warnings.filterwarnings("ignore", message="There is a performance drop")
            out, grads = torch.func.vmap(per_sample, in_dims=in_dims)(*stacked, *stacked_grads)
        out = as_outputs(out)
    except Exception as error:
        if _unsupported(error):
            return Outcome(SKIP, [f"not supported: {_first_sentence(error)}"], error)
        return crashed(error, target)
    lines = []
    for k, sample in enumerate(samples):
        expected_out, expected_grads = forward_and_grads(target.call, sample.args, diff, sample.cotangents)
        for j, e in enumerate(expected_out):
            lines.append(_worst(f"sample {k} ({sample.name}), output {j}", e, out[j][k], **REFERENCE_TOLERANCE))
        for i, e, g in zip(diff, expected_grads, grads):
            e = torch.zeros_like(sample.args[i]) if e is None else e
            lines.append(_worst(f"sample {k} ({sample.name}), {target.input_label(i)}", e, g[k],
                                **REFERENCE_TOLERANCE))
    lines = [line for line in lines if line]
    return Outcome(FAIL, ["vmap disagrees with a loop over the samples:"] + lines) if lines else Outcome(PASS)
