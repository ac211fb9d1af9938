"""check(fn, *inputs): every check on every input set, gathered into a Report."""
from dataclasses import dataclass

import torch

from handgrad.check import checks
from handgrad.check.crash import describe
from handgrad.check.inputs import derived_sets, draw_cotangents, given_set
from handgrad.check.jacobian import as_outputs
from handgrad.check.report import FAIL, PASS, SKIP, Line, Report
from handgrad.check.target import resolve


@dataclass
class Plan:
    """Everything check() validated, before it runs any of the user's code."""

    target: object  # Target
    given: object  # InputSet
    extra: list  # derived InputSets
    skipped: list  # (set name, reason)
    diff: list  # indices of the inputs to differentiate
    reference: object  # a callable, or None
    seed: int
    generator: torch.Generator
    atol: float
    rtol: float
    held: list = None  # indices of a cost's targets, not differentiated


def plan(fn, inputs, reference=None, seed=0, atol=1e-5, rtol=1e-3, differentiate_target=False):
    """Validate the arguments and draw the inputs; TypeError or ValueError names what is wrong."""
    target = resolve(fn)
    if reference is not None and not callable(reference):
        raise TypeError(f"check: reference must be a function of the same inputs, got {type(reference).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"check: seed must be an int, got {type(seed).__name__} {seed!r}")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"check: {name} must be a number >= 0, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    given, diff, held = given_set(inputs, generator, target.names, differentiate_target)
    extra, skipped = derived_sets(given, diff, generator)
    return Plan(target, given, extra, skipped, diff, reference, seed, generator, atol, rtol, held)


def _forward(plan, inputs):
    """None when fn runs on inputs with finite floating-point outputs, else why not (a str or the exception)."""
    try:
        with torch.no_grad():
            result = plan.target.call(*inputs.args)
    except Exception as error:
        return error
    try:
        outputs = as_outputs(result)
    except TypeError as error:
        return str(error)
    for k, output in enumerate(outputs):
        if not output.is_floating_point():
            return f"output {k} has dtype {output.dtype}; a gradient needs a floating-point output"
        if not torch.isfinite(output).all():
            return f"output {k} has nan or inf values"
    inputs.cotangents = draw_cotangents(outputs, plan.generator)
    return None


def _combine(check, target, results):
    """One Line for a check run on several input sets; details from the smallest failing set,
    whose Jacobians are the likeliest to be small enough to print."""
    failed = [(s, o) for s, o in results if o.status == FAIL]
    if not failed:
        return Line(check, PASS, ", ".join(s.name for s, _ in results))
    inputs, outcome = min(failed, key=lambda pair: pair[0].numel())
    details = [f"on {inputs.name}: {inputs.shapes(target)}"] + outcome.details
    return Line(check, FAIL, "failed on " + ", ".join(s.name for s, _ in failed), details, outcome.error)


def _run(plan):
    target = plan.target
    report = Report(target.label, plan.seed)
    report.header.append(f"inputs: {plan.given.shapes(target)}")
    for i in plan.held or []:
        report.header.append(f"not differentiated: {target.input_label(i)}, a cost's target (data); "
                             f"its gradient is checked only with differentiate_target=True")
    problem = _forward(plan, plan.given)
    if problem is not None:
        if isinstance(problem, BaseException):
            report.lines.append(Line("forward", FAIL, "on the given inputs",
                                     [f"crashed: {describe(problem, target.label)}"], problem))
        else:
            report.lines.append(Line("forward", FAIL, "on the given inputs", [problem]))
        return report
    live = [plan.given]
    skipped = list(plan.skipped)
    for inputs in plan.extra:
        problem = _forward(plan, inputs)
        if problem is None:
            live.append(inputs)
        else:
            reason = describe(problem) if isinstance(problem, BaseException) else problem
            skipped.append((inputs.name, f"fn rejects these inputs: {reason}"))
    report.header.append(f"input sets: {', '.join(s.name for s in live)} "
                         f"(extra sets and upstream gradients drawn from seed {plan.seed})")
    report.header += [f"skipped {name}: {reason}" for name, reason in skipped]
    report.lines.append(Line("forward", PASS, "finite outputs on every input set"))

    if target.function is not None:
        report.lines.append(_combine("gradient shapes", target,
                                     [(s, checks.gradient_shapes(target, s, plan.diff)) for s in live]))
    else:
        report.lines.append(Line("gradient shapes", SKIP, "only for a Function class; gradcheck still checks values"))
    results = [(s, checks.gradcheck(target, s, plan.diff, plan.generator, plan.atol, plan.rtol, plan.seed))
               for s in live]
    report.lines.append(_combine("gradcheck", target, results))
    first_order = [line for line in report.lines[-2:] if line.status == FAIL]
    if first_order:
        # the derivative of a wrong backward says nothing new: the first-order failure is the one to fix
        report.lines.append(Line("gradgradcheck", SKIP, f"skipped: the first-order gradient is already wrong "
                                                       f"({first_order[0].check} failed); fix that first"))
    else:
        results = [(s, checks.gradgradcheck(target, s, plan.diff, plan.generator, plan.atol, plan.rtol, plan.seed))
                   for s in live]
        report.lines.append(_combine("gradgradcheck", target, results))

    if plan.reference is None:
        report.lines.append(Line("reference", SKIP, "no reference given"))
    else:
        pairs = [(s, checks.reference(target, plan.reference, s, plan.diff)) for s in live]
        report.lines.append(_combine("reference forward", target, [(s, f) for s, (f, _) in pairs]))
        report.lines.append(_combine("reference grads", target, [(s, g) for s, (_, g) in pairs]))

    same_shape = [s for s in live if not s.name.startswith("batch")]
    outcome = checks.vmap(target, same_shape, plan.diff)
    summary = f"over {len(same_shape)} stacked input sets"
    if outcome.status == SKIP:
        report.lines.append(Line("vmap", SKIP, outcome.details[0], error=outcome.error))
    else:
        report.lines.append(Line("vmap", outcome.status, summary, outcome.details, outcome.error))
    return report


def run(plan):
    """Run every check of plan; the user's exceptions become failures in the Report, never escape."""
    return _run(plan)


def check(fn, *inputs, reference=None, seed=0, atol=1e-5, rtol=1e-3, differentiate_target=False):
    """Check the backward of fn in float64; returns a Report, truthy when every check passes.

    fn: a torch.autograd.Function (the class or its .apply) or any function of tensors.
    inputs: tensors, shapes (tuples of ints, drawn as standard normal values from seed)
        or constants. Inputs with requires_grad are differentiated; when none has it,
        every floating-point tensor is.
    reference: a function of the same inputs (e.g. torch's own op) whose outputs and
        gradients fn must match.
    seed: draws the shapes, the extra input sets (batch 1, a larger batch,
        non-contiguous) and the upstream gradients; the report prints it.
    atol, rtol: gradcheck's tolerances against finite differences.
    differentiate_target: also differentiate an input named target (a cost's data); without
        it a target is left alone unless given as a tensor that requires grad.

    Runs gradcheck and gradgradcheck on every input set, reads the shapes and dtypes the
    backward returns (Function classes only), compares with reference, and runs torch.func.vmap.
    Exceptions raised by fn or its backward are reported with the file:line that raised.
    """
    return run(plan(fn, inputs, reference, seed, atol, rtol, differentiate_target))
