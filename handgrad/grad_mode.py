"""``without_graph``: torch.no_grad() for functions called in a hot loop."""
import functools

import torch


def without_graph(fn):
    """Run ``fn`` with grad mode off, like ``@torch.no_grad()``, but without entering a context
    when grad mode is off already: the classifier takes a whole block of updates that way,
    and a context per call is a noticeable share of a one-sample update."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not torch.is_grad_enabled():
            return fn(*args, **kwargs)
        with torch.no_grad():
            return fn(*args, **kwargs)

    return run
