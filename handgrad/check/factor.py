"""When a gradient is off by one factor on every element, say so, and guess why.

A backward that forgets grad_output, the 1/N of a mean or a minus sign is right up
to one number: computed = c x expected. That number names the mistake better than
any one element does.
"""
import torch

CLOSE = 1e-4  # relative spread of the ratios still called "one factor"


def _near(value, wanted):
    return abs(value - wanted) <= CLOSE * max(1.0, abs(wanted))


def _why(ratio, sizes, upstream):
    """The likely mistake behind computed = ratio x expected, or ''."""
    if upstream is not None and upstream != 0 and _near(ratio * upstream, 1.0):
        return (f" (the upstream gradient grad_output is {upstream:.4g} here: multiply by it; "
                f"a cost's grad_output is 1 in training, so only a check catches this)")
    if _near(ratio, -1.0):
        return " (a sign error)"
    for size in sorted(set(s for s in sizes if s > 2), reverse=True):
        if _near(abs(ratio), size):
            return f" (x {size}, a size of the input: a missing 1/N of a mean?)"
        if _near(abs(ratio), 1 / size):
            return f" (/ {size}, a size of the input: a 1/N too many?)"
    if _near(abs(ratio), 2.0) or _near(abs(ratio), 0.5):
        return " (a factor 2: the 1/2 of a quadratic cost, or the 2 of the derivative of x^2?)"
    return ""


def common_ratio(expected, computed):
    """c when computed = c x expected on every element for a single c != 1, else None."""
    expected = expected.detach().reshape(-1).to(torch.float64)
    computed = computed.detach().reshape(-1).to(torch.float64)
    if expected.numel() == 0 or computed.shape != expected.shape:
        return None
    scale = expected.abs().max().item()
    if not scale > 0 or not torch.isfinite(computed).all():
        return None
    nonzero = expected.abs() > 1e-6 * scale
    if (computed[~nonzero].abs() > 1e-4 * scale).any():
        return None
    ratios = computed[nonzero] / expected[nonzero]
    ratio = ratios.median().item()
    if _near(ratio, 1.0) or ratio == 0 or not ((ratios - ratio).abs() <= CLOSE * abs(ratio)).all():
        return None
    return ratio


def same_factor(expected, computed, sizes=(), upstream=None):
    """One line when computed = c x expected for a single c != 1 on every element, else None.

    sizes: the input's dimension sizes (a factor equal to one hints at a missing 1/N);
    upstream: the value of a 0-d upstream gradient (a factor 1/upstream: grad_output forgotten).
    """
    ratio = common_ratio(expected, computed)
    if ratio is None:
        return None
    return f"every element is off by the same factor: computed = expected x {ratio:.6g}{_why(ratio, sizes, upstream)}"
