"""handgrad.check: check a hand-written backward pass, and say what is wrong with it.

    report = handgrad.check(MyFunction, torch.randn(4, 3), reference=torch.nn.functional.softplus)
    print(report)          # one line per check; a failure names the input, element and values
    assert report          # truthy when every check passed

    python -m handgrad.check path/to/file.py:MyFunction    # see handgrad/check/command.py

The package is also callable, so `handgrad.check(...)`, `from handgrad import check`,
`from handgrad.check import check` and `python -m handgrad.check` all work.
"""
import sys
import types

from handgrad.check.report import Line, Report
from handgrad.check.run import check

__all__ = ["check", "Report", "Line"]


class _CallableModule(types.ModuleType):
    # `from handgrad import check` in handgrad/__init__.py binds the name `check`; were
    # it the function, it would shadow this package as handgrad.check (breaking
    # `import handgrad.check as hc`). A callable package keeps one object for both.
    def __call__(self, fn, *inputs, **options):
        return check(fn, *inputs, **options)


sys.modules[__name__].__class__ = _CallableModule
