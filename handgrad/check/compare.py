"""Check a learner's piece that is not a Function against handgrad's own on random inputs:
backpropagation through a sigmoid dense stack (a function), and an update rule (an optimizer).
The result is a Report, printed like the checker's.

    python -m handgrad.check experiments/exercises/backprop.py:backprop
    python -m handgrad.check experiments/exercises/gradient_descent.py:GradientDescent
"""
import torch

from handgrad.check.crash import describe
from handgrad.check.factor import common_ratio, same_factor
from handgrad.check.report import FAIL, PASS, Line, Report

TOLERANCE = dict(rtol=1e-7, atol=1e-9)  # the same math in float64: rounding is the only difference
STACKS = [((6, 5, 4, 3), "batch 6"), ((1, 4, 6, 5, 2), "batch 1"), ((7, 3, 2), "one layer, batch 7")]
STEPS = 3


def _wrong(label, expected, computed, sizes=(), factor=True):
    """Lines for computed against expected: its shape, its worst element, one factor on all; [] when close."""
    if not isinstance(computed, torch.Tensor):
        return [f"{label}: returned {type(computed).__name__}, expected a tensor of shape {tuple(expected.shape)}"]
    if computed.shape != expected.shape:
        hint = ""
        if computed.dim() == 2 and computed.shape == expected.shape[::-1]:
            hint = ": transposed (a gradient has its parameter's shape, (out, in))"
        elif computed.dim() == expected.dim() + 1 and computed.shape[1:] == expected.shape:
            hint = ": one row per sample; sum it over the batch"
        return [f"{label}: returned shape {tuple(computed.shape)}, expected {tuple(expected.shape)}{hint}"]
    computed = computed.detach().to(torch.float64)
    error = (computed - expected).abs()
    wrong = ~(error <= TOLERANCE["atol"] + TOLERANCE["rtol"] * expected.abs())
    if not wrong.any():
        return []
    flat = int(torch.argmax(torch.where(wrong, error, 0).nan_to_num(float("inf"))))
    index = [int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape)]
    lines = [f"{label}: wrong at {index}: expected {expected.reshape(-1)[flat].item():.6g}, "
             f"computed {computed.reshape(-1)[flat].item():.6g} ({int(wrong.sum())} of {expected.numel()} elements off)"]
    note = same_factor(expected, computed, sizes) if factor else None
    return lines + ([f"  {note}"] if note else [])


def _stack(sizes, generator):
    """x, weights, biases, grad_output of a stack with layer sizes sizes[1:] and batch sizes[0]."""
    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)
    batch, widths = sizes[0], sizes[1:]
    weights = [draw(b, a) for a, b in zip(widths[:-1], widths[1:])]
    biases = [draw(b) for b in widths[1:]]
    return draw(batch, widths[0]), weights, biases, draw(batch, widths[-1])


def _reference_backprop(grad_output, x, weights, biases):
    """[dW_1, db_1, ..., dW_L, db_L] from the reference tier's DenseStackFunction backward."""
    from handgrad.functional import dense_stack

    params = [p.clone().requires_grad_() for pair in zip(weights, biases) for p in pair]
    logits = dense_stack(x, params[0::2], params[1::2], "sigmoid")
    return torch.autograd.grad(logits, params, grad_output)


def check_backprop(fn, seed=0, label=None):
    """fn(grad_output, activations, weights) -> [(dW_l, db_l)] against the backward of handgrad's
    reference DenseStackFunction."""
    generator = torch.Generator().manual_seed(seed)
    report = Report(label or getattr(fn, "__name__", "backprop"), seed)
    report.header.append("sigmoid dense stacks: a_0 = x, a_l = sigmoid(a_{l-1} W_l^T + b_l), z_L the output")
    for sizes, name in STACKS:
        x, weights, biases, grad_output = _stack(sizes, generator)
        activations, hidden = [x], x
        for weight, bias in zip(weights[:-1], biases[:-1]):
            hidden = torch.sigmoid(hidden @ weight.T + bias)
            activations.append(hidden)
        expected = _reference_backprop(grad_output, x, weights, biases)
        summary = f"{name}, layers {' -> '.join(map(str, sizes[1:]))}"
        try:
            returned = fn(grad_output.clone(), [a.clone() for a in activations], [w.clone() for w in weights])
        except Exception as error:
            report.lines.append(Line("backprop", FAIL, summary, [f"crashed: {describe(error)}"], error))
            continue
        if not isinstance(returned, (list, tuple)) or len(returned) != len(weights):
            count = len(returned) if isinstance(returned, (list, tuple)) else type(returned).__name__
            report.lines.append(Line("backprop", FAIL, summary, [
                f"returned {count}, expected a list of {len(weights)} (grad_weight, grad_bias) pairs, one per layer"]))
            continue
        details = []
        for layer, pair in enumerate(returned):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                details.append(f"layer {layer + 1}: expected a pair (grad_weight, grad_bias), got {type(pair).__name__}")
                continue
            batch = (sizes[0],)
            details += _wrong(f"layer {layer + 1} weight", expected[2 * layer], pair[0], batch)
            details += _wrong(f"layer {layer + 1} bias", expected[2 * layer + 1], pair[1], batch)
        report.lines.append(Line("backprop", FAIL if details else PASS, summary, details))
    return report


def _parameters(generator):
    """Two parameter groups: a weight and a bias at the default lr, and one at its own lr, plus one without a gradient."""
    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)
    return [draw(3, 4), draw(4), draw(2, 2), draw(5)]


def _groups(params, lr):
    return [{"params": params[:2]}, {"params": params[2:], "lr": lr / 2}]


def _step_note(wanted, moved, lr):
    """What the step taken says about the mistake: 'the step taken is -1 x the right one (a sign error)'."""
    ratio = common_ratio(wanted, moved)
    if ratio is None:
        return "the step taken is not a multiple of the right one, theta <- theta - lr * grad"
    why = ""
    if abs(ratio + 1) < 1e-4:
        why = " (a sign error: step against the gradient)"
    elif abs(abs(ratio) - 1 / lr) < 1e-4 / lr:
        why = f" (1/lr with lr = {lr}: multiply the gradient by the group's learning rate)"
    return f"the step taken is {ratio:.6g} x the right one{why}"


def check_optimizer(optimizer_class, seed=0, lr=0.1, label=None):
    """optimizer_class(param_groups, lr=lr) against handgrad.optim.GradientDescent, over STEPS steps."""
    from handgrad.optim import GradientDescent

    generator = torch.Generator().manual_seed(seed)
    report = Report(label or optimizer_class.__name__, seed)
    report.header.append(f"{STEPS} steps at lr={lr} (a second group at lr={lr / 2}); "
                         f"the last parameter gets no gradient and must not move")
    start = _parameters(generator)
    yours = [p.clone().requires_grad_() for p in start]
    ours = [p.clone().requires_grad_() for p in start]
    summary = f"{STEPS} steps, 2 parameter groups"
    try:
        optimizer = optimizer_class(_groups(yours, lr), lr=lr)
    except Exception as error:
        report.lines.append(Line("update", FAIL, summary, [f"crashed: {describe(error)}"], error))
        return report
    reference = GradientDescent(_groups(ours, lr), lr=lr)
    rates = [lr, lr, lr / 2, lr / 2]
    for step in range(1, STEPS + 1):
        grads = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in start[:-1]] + [None]
        before = [p.detach().clone() for p in yours]
        for param, twin, grad in zip(yours, ours, grads):
            param.grad = None if grad is None else grad.clone()
            twin.grad = None if grad is None else grad.clone()
        try:
            optimizer.step()
        except Exception as error:
            report.lines.append(Line("update", FAIL, summary, [f"step {step} crashed: {describe(error)}"], error))
            return report
        reference.step()
        details = []
        for k, (param, twin) in enumerate(zip(yours, ours)):
            label_k = f"after step {step}, parameter {k} {tuple(param.shape)}"
            lines = _wrong(label_k, twin.detach(), param.detach(), factor=False)
            if lines and grads[k] is None:
                lines.append("  this parameter has no gradient (.grad is None): leave it as it is")
            elif lines:
                lines.append("  " + _step_note(twin.detach() - before[k], param.detach() - before[k], rates[k]))
            details += lines
        if details:
            report.lines.append(Line("update", FAIL, f"failed at step {step} of {STEPS}", details))
            return report
    report.lines.append(Line("update", PASS, summary))
    return report
