"""The checker's result: one line per check, truthy when none failed, printed as a short report."""
from dataclasses import dataclass, field
from typing import Optional

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


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
            out.append(f"FAILED: {failed} of {len(self.lines)} checks; the same seed ({self.seed}) reproduces this")
        else:
            skipped = sum(line.status == SKIP for line in self.lines)
            out.append(f"passed: {len(self.lines) - skipped} checks" + (f", {skipped} skipped" if skipped else ""))
        return "\n".join(out)

    __repr__ = __str__
