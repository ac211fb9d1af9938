"""The checker's result: one line per check, truthy when none failed, printed as a short report."""
from dataclasses import dataclass, field
from typing import Optional

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# what each check's name means, printed under a report that failed
LEGEND = {
    "forward": "runs fn on the inputs: it must return finite floating-point tensors",
    "gradient shapes": "backward returns one gradient per input, each of its input's shape and dtype",
    "gradcheck": "backward's gradients against finite differences (f(x + eps) - f(x - eps)) / 2 eps",
    "gradgradcheck": "the derivative of your backward (double backward) against finite differences",
    "reference forward": "the outputs against the reference op (torch's own, given in the file)",
    "reference grads": "the gradients against the reference op's, as autograd computes them",
    "reference": "the outputs and gradients against a reference op, when the file gives one",
    "vmap": "torch.func.vmap over stacked input sets gives what a loop over them gives",
    "backprop": "every layer's gradients against handgrad's own backpropagation, on random stacks",
    "update": "the parameters after a few steps against handgrad's own optimizer, same gradients",
}


@dataclass
class Line:
    check: str  # "gradcheck"
    status: str  # PASS, FAIL or SKIP
    summary: str = ""  # which input sets, or why skipped
    details: list = field(default_factory=list)  # for a failure: what is wrong, where
    error: Optional[BaseException] = None  # the exception behind a failure, kept for its traceback

    def __str__(self):
        head = f"{self.status}  {self.check:<18} {self.summary}".rstrip()
        return "\n".join([head] + [f"        {d}" for d in self.details])


@dataclass
class Report:
    """Truthy when every check passed (skipped checks do not fail); print it for the report."""

    title: str  # "Softplus"
    seed: int
    header: list = field(default_factory=list)  # inputs, input sets, skipped sets
    lines: list = field(default_factory=list)

    @property
    def failures(self):
        return [line for line in self.lines if line.status == FAIL]

    def line(self, check):
        """The Line of the check named check, e.g. report.line("gradcheck")."""
        for line in self.lines:
            if line.check == check:
                return line
        raise KeyError(f"report has no check {check!r}; it has {[l.check for l in self.lines]}")

    def __bool__(self):
        return not self.failures

    def __str__(self):
        out = [f"handgrad.check {self.title} (float64, seed {self.seed})"]
        out += [f"  {h}" for h in self.header]
        shown = {}  # a crash repeats in every check that runs the backward: print it once
        for line in self.lines:
            key = tuple(d for d in line.details if not d.startswith("on "))  # same crash, any input set
            if line.status == FAIL and key and key in shown and all(d.startswith("crashed:") for d in key):
                out.append(str(Line(line.check, line.status, line.summary, [f"(same as {shown[key]} above)"])))
            else:
                out.append(str(line))
                shown.setdefault(key, line.check)
        failed = len(self.failures)
        if failed:
            named = {line.check for line in self.lines if line.status != PASS}
            out.append("what these checks test (all of them: experiments/exercises/README.md):")
            out += [f"  {name:<18} {LEGEND[name]}" for name in LEGEND if name in named]
            out.append(f"FAILED: {failed} of {len(self.lines)} checks; the same seed ({self.seed}) reproduces this")
        else:
            skipped = sum(line.status == SKIP for line in self.lines)
            out.append(f"passed: {len(self.lines) - skipped} checks" + (f", {skipped} skipped" if skipped else ""))
        return "\n".join(out)

    __repr__ = __str__
