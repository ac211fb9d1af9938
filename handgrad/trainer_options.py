"""Trainer options the Classifier cannot honour, refused before the first update with one line each.

The Classifier optimizes manually (many updates per training step), so Lightning's automatic
gradient clipping and accumulation do not apply; the Classifier has its own equivalents. Its
explicit backprop (``model.backprop='explicit'``, the fused handgrad MLP) runs no backward
pass through autograd, so what hooks into one (mixed precision's autocast, backward hooks,
anomaly detection) is refused there, naming the autograd path where it works. The table of
every option is in docs/training.md.
"""
import lightning as L
import torch

from handgrad.models import MLP
from handgrad.trace import is_tracing

EXPLICIT_PRECISIONS = ("32-true", "64-true")
MIXED_PRECISIONS = ("16-mixed", "bf16-mixed")
BACKWARD_HOOKS = ("on_before_backward", "on_after_backward")


class OptionRefused(ValueError):
    """An option the run cannot honour; its message is one line: the option, why, what to use instead."""


def check_trainer_options(trainer, model, anomaly=None):
    """Raise OptionRefused for the first option of ``trainer`` that ``model`` (a Classifier) cannot honour.

    ``anomaly``: whether anomaly detection is on (default: whether it is on now, as it is during fit).
    """
    for line in refusals(trainer, model, torch.is_anomaly_enabled() if anomaly is None else anomaly):
        raise OptionRefused(line)


def refusals(trainer, model, anomaly):
    """One line per option of ``trainer`` that ``model`` cannot honour."""
    lines = []
    if trainer.gradient_clip_val:
        lines.append(
            f"trainer.gradient_clip_val {trainer.gradient_clip_val}: Lightning clips gradients only under automatic "
            f"optimization, and the Classifier takes its updates itself; use --model.gradient_clip_val "
            f"{trainer.gradient_clip_val} (and --model.gradient_clip_algorithm), applied to every update"
        )
    elif trainer.gradient_clip_algorithm is not None and trainer.gradient_clip_val is None:
        lines.append(
            f"trainer.gradient_clip_algorithm {trainer.gradient_clip_algorithm!r}: Lightning clips gradients only under "
            f"automatic optimization; use --model.gradient_clip_val with --model.gradient_clip_algorithm"
        )
    if trainer.accumulate_grad_batches != 1:
        lines.append(
            f"trainer.accumulate_grad_batches {trainer.accumulate_grad_batches}: the Classifier takes its updates "
            f"itself, so Lightning does not accumulate; set the samples per update with the descent switch "
            f"(--data.batch_size, or --data.descent batch), and --model.chunk_size to split a large update into passes"
        )
    if model.uses_explicit_backprop:
        lines += explicit_backprop_refusals(trainer, model, anomaly)
    elif trainer.precision in MIXED_PRECISIONS and uses_handgrad_layers(model.network):
        lines.append(
            f"trainer.precision {trainer.precision}: handgrad's layer Functions need input and weight of one dtype, "
            f"and autocast casts only torch's own ops; use the fused handgrad MLP (--model.fused true "
            f"--model.backprop autograd) or --model.backend torch for mixed precision"
        )
    return lines


def uses_handgrad_layers(network):
    """Whether the network runs handgrad.nn layers one Function at a time (not the fused dense stack)."""
    if isinstance(network, MLP) and network.uses_dense_stack:
        return False
    return any(type(module).__module__.startswith("handgrad.nn") for module in network.modules())


def explicit_backprop_refusals(trainer, model, anomaly):
    """What the explicit backprop (no autograd engine) cannot honour; the autograd path can."""
    switch = "use --model.backprop autograd (handgrad's Functions through autograd), where it works"
    lines = []
    if trainer.precision not in EXPLICIT_PRECISIONS:
        lines.append(
            f"trainer.precision {trainer.precision}: the explicit backprop computes in the parameters' dtype, "
            f"without autocast ({' or '.join(EXPLICIT_PRECISIONS)}); {switch}"
        )
    for listener in [*trainer.callbacks, model]:
        base = L.LightningModule if listener is model else L.Callback
        for hook in BACKWARD_HOOKS:
            if getattr(type(listener), hook) is not getattr(base, hook):
                what = "the model" if listener is model else f"trainer.callbacks: {type(listener).__name__}"
                lines.append(
                    f"{what} implements {hook}, which Lightning calls at a backward pass; the explicit backprop "
                    f"takes none; {switch}"
                )
    if is_tracing():
        lines.append(
            "handgrad.trace() is open: it records the backward calls of handgrad's Functions, and the explicit "
            f"backprop calls none; {switch}"
        )
    if anomaly:
        lines.append(
            "trainer.detect_anomaly: anomaly detection watches autograd's backward, which the explicit backprop "
            f"does not run (model.nonfinite='stop' still stops at a NaN or infinite loss); {switch}"
        )
    return lines
