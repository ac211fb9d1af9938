"""Why a gradient check failed: each wrong input, its worst element, the expected and
the computed value, and for small inputs the two Jacobians side by side.

Expected gradients come from central differences, (f(x + eps) - f(x - eps)) / 2 eps,
one input element at a time, contracted with the same upstream gradient v the
backward receives: expected = J^T v, computed = backward(v).
"""
import torch

from handgrad.check.factor import same_factor

EPS = 1e-6  # gradcheck's step: small enough for float64 curvature, large enough for rounding
MAX_PERTURBED = 512  # beyond this many elements, check a seeded sample of them
MAX_TABLE = 8  # show the Jacobians for inputs of at most this many elements ...
MAX_TABLE_OUTPUTS = 4  # ... and outputs of at most this many, so a row fits on a line


def as_outputs(value):
    """fn's result as a list of tensors, or a TypeError naming what came."""
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    for v in values:
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"fn must return a tensor or a tuple of tensors, got {type(v).__name__}")
    return values


def _flat_outputs(call, args):
    with torch.no_grad():
        return torch.cat([o.reshape(-1).to(torch.float64) for o in as_outputs(call(*args))])


def _numerical_rows(call, args, index, positions):
    """Row k: d(all outputs, flattened) / d(element positions[k] of args[index])."""
    rows = []
    base = args[index].detach()
    for k in positions.tolist():
        shifted = []
        for step in (EPS, -EPS):
            moved = base.clone(memory_format=torch.contiguous_format)  # so view(-1)[k] is element k
            moved.view(-1)[k] += step
            shifted.append(_flat_outputs(call, args[:index] + [moved] + args[index + 1:]))
        rows.append((shifted[0] - shifted[1]) / (2 * EPS))
    return torch.stack(rows)


def _analytical_rows(outputs, input):
    """Row k: what backward gives for input element k, one output element at a time (J^T one-hot)."""
    columns = []
    for which, output in enumerate(outputs):
        for j in range(output.numel()):
            grads = [torch.zeros(o.shape, dtype=o.dtype) for o in outputs]
            grads[which].view(-1)[j] = 1
            (grad,) = torch.autograd.grad(outputs, input, grads, retain_graph=True, allow_unused=True)
            columns.append(torch.zeros(input.numel(), dtype=torch.float64) if grad is None else grad.reshape(-1))
    return torch.stack(columns, dim=1)


def _index(flat, shape):
    if len(shape) == 0:
        return "[]"
    return "[" + ", ".join(str(int(i)) for i in torch.unravel_index(torch.tensor(flat), shape)) + "]"


def _table(label, numerical, analytical, shape):
    width = max(11 * numerical.shape[1], len("numerical (finite differences)"))
    lines = [f"  Jacobian of the outputs w.r.t. {label}: a row per input element, a column per output element",
             f"  {'element':>10}  {'numerical (finite differences)':<{width}} | analytical (your backward)"]
    for k in range(numerical.shape[0]):
        left = "".join(f"{v:>11.4g}" for v in numerical[k].tolist())
        right = "".join(f"{v:>11.4g}" for v in analytical[k].tolist())
        lines.append(f"  {_index(k, shape):>10}  {left:<{width}} | {right}")
    return lines


NONE_FOR_GRAD = ("backward returned None, but it requires grad: return its gradient (a tensor of its shape) "
                 "in that place of backward's tuple; None is only for an input whose ctx.needs_input_grad is False")


def _at_element(label, input, flat, cotangents):
    """'at that element: input 0 (input) = 0.53, upstream gradient grad_output[2, 1] = -1.2'."""
    input_shape = input.shape
    text = f"at that element: {label} = {input.detach().reshape(-1)[flat].item():.6g}"
    if len(cotangents) == 1:
        upstream = cotangents[0].detach()
        if upstream.dim() == 0:
            text += f", upstream gradient grad_output = {upstream.item():.6g} (a 0-d tensor)"
        elif upstream.shape == input_shape:
            text += f", upstream gradient grad_output{_index(flat, input_shape)} = {upstream.reshape(-1)[flat].item():.6g}"
        else:
            text += f", upstream gradient grad_output of shape {tuple(upstream.shape)} (drawn from the seed)"
    return text


def explain(target, call, args, diff, cotangents, generator, atol, rtol, names=None, none_is_zero=False,
            tables=True):
    """Lines naming every input whose gradient is wrong; empty when all agree with finite differences.

    names: index -> label, when call is not target's own function; none_is_zero: a None
    gradient means "does not depend on it" (true of a double backward), not a missing one;
    tables: show the Jacobians of small inputs side by side.
    """
    label_of = names or target.input_label
    outputs = as_outputs(call(*args))
    inputs = [args[i] for i in diff]
    computed = torch.autograd.grad(outputs, inputs, cotangents, retain_graph=True, allow_unused=True)
    v = torch.cat([c.reshape(-1) for c in cotangents])
    lines = []
    for i, input, grad in zip(diff, inputs, computed):
        label = label_of(i)
        if grad is None and not none_is_zero:
            lines.append(f"{label}: {NONE_FOR_GRAD}")
        if grad is None:
            grad = torch.zeros_like(input)
        if grad.shape != input.shape:
            lines.append(f"{label}: gradient has shape {tuple(grad.shape)}, expected {tuple(input.shape)}")
            continue
        numel = input.numel()
        if numel <= MAX_PERTURBED:
            positions = torch.arange(numel)
        else:
            positions = torch.randperm(numel, generator=generator)[:MAX_PERTURBED].sort().values
        rows = _numerical_rows(call, args, i, positions)
        expected = rows @ v
        got = grad.detach().reshape(-1)[positions].to(torch.float64)
        error = (got - expected).abs()
        bound = atol + rtol * expected.abs()
        wrong = error > bound
        if not wrong.any():
            continue
        worst = int(torch.argmax(error / bound))
        flat = int(positions[worst])
        lines.append(
            f"{label}: wrong at {_index(flat, input.shape)}: expected {expected[worst].item():.6g}, "
            f"computed {got[worst].item():.6g} ({int(wrong.sum())} of {len(positions)} elements off)"
        )
        if tables:  # the first-order check: the learner's own inputs and grad_output
            lines.append("  " + _at_element(label, input, flat, cotangents))
            upstream = cotangents[0].item() if len(cotangents) == 1 and cotangents[0].dim() == 0 else None
            factor = same_factor(expected, got, (*input.shape, input.numel()), upstream)
            if factor:
                lines.append("  " + factor)
        if tables and numel <= MAX_TABLE and v.numel() <= MAX_TABLE_OUTPUTS:
            lines += _table(label, rows, _analytical_rows(outputs, input), input.shape)
    return lines
