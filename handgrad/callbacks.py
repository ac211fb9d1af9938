"""Lightning callbacks that watch handgrad train: per-update losses, per-layer gradient norms, live gradient parity.

From the CLI, e.g.:
    handgrad fit --config experiments/configs/digits.yaml \\
        --trainer.callbacks+=handgrad.callbacks.GradientParity --trainer.callbacks.every_n_steps 50
or with ``experiments/configs/digits_parity.yaml``.

All three hook ``on_before_optimizer_step``, which Lightning calls at each ``optimizer.step()``
of the Classifier's manual optimization, i.e. once per parameter update, after the update's
gradients sit in ``.grad``. That is true for both of the Classifier's paths (the fused
explicit backprop and autograd through handgrad's Functions), so the callbacks see both.
"""
import copy
import time
from collections import defaultdict

import lightning as L
import torch

from handgrad.backprop import cost
from handgrad.models import MLP
from handgrad.swap import unswap


def layer_gradients(module):
    """{layer name: [gradients of its parameters]}, layers in the order of ``named_parameters``.

    A layer is a module that owns parameters directly ('network.layers.0' -> 'layers.0').
    """
    layers = defaultdict(list)
    for name, param in module.named_parameters():
        if param.grad is not None:
            owner = name.rpartition(".")[0].removeprefix("network.") or name
            layers[owner].append(param.grad)
    return layers


class UpdateLosses(L.Callback):
    """Records the loss of every parameter update with its epoch and training wall time.

    ``times[i]`` is the training time in seconds (from each epoch's start to its last block,
    validation excluded) when update ``i`` finished; updates within one Lightning step
    share the step's time evenly. ``epoch_seconds`` holds each epoch's training time.
    """

    def __init__(self):
        self.losses, self.epochs, self.times, self.epoch_seconds = [], [], [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch_start = self._last = time.perf_counter()
        self._before = sum(self.epoch_seconds)  # training time of the epochs already done

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        losses = outputs["update_losses"].tolist()
        start, step = self._last - self._epoch_start, (now - self._last) / len(losses)
        self.losses += losses
        self.epochs += [trainer.current_epoch] * len(losses)
        self.times += [self._before + start + step * (i + 1) for i in range(len(losses))]
        self._last = now

    def on_train_epoch_end(self, trainer, pl_module):
        # on_train_epoch_end runs after validation, so the epoch ends at its last block
        self.epoch_seconds.append(self._last - self._epoch_start)


class GradientNorms(L.Callback):
    """Records each layer's gradient 2-norm (weight and bias together) at every ``every_n_updates``-th update,
    and logs the epoch's mean per layer as ``grad_norm/<layer>``.

    Args:
        every_n_updates: record one update in this many. Default: 1 (every update).

    ``history`` holds one dict per record: epoch, update (global step), layer (index from the
    input side), name, norm.
    """

    def __init__(self, every_n_updates: int = 1):
        if isinstance(every_n_updates, bool) or not isinstance(every_n_updates, int) or every_n_updates < 1:
            raise ValueError(f"GradientNorms: every_n_updates must be an int >= 1, got {every_n_updates!r}")
        self.every_n_updates = every_n_updates
        self.history = []
        self._epoch_norms = defaultdict(list)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if trainer.global_step % self.every_n_updates:
            return
        for index, (name, grads) in enumerate(layer_gradients(pl_module).items()):
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
            self.history.append(dict(epoch=trainer.current_epoch, update=trainer.global_step, layer=index,
                                     name=name, norm=norm))
            self._epoch_norms[name].append(norm)

    def on_train_epoch_end(self, trainer, pl_module):
        for name, norms in self._epoch_norms.items():
            pl_module.log(f"grad_norm/{name}", sum(norms) / len(norms))
        self._epoch_norms.clear()


def torch_twin(network):
    """A deep copy of ``network`` that runs only torch modules (autograd's own backward), same values.

    handgrad's modules are unswapped; a handgrad MLP also switches to its torch path, since it
    picks handgrad's dense stack by its ``backend`` flag, not by its layers' types. Calls to
    handgrad.functional written into a forward stay handgrad: such a network is not covered.
    """
    twin, _ = unswap(copy.deepcopy(network))
    if isinstance(twin, MLP):
        twin.backend = "torch"
    return twin


class GradientParity(L.Callback):
    """Every ``every_n_steps`` updates, recomputes the update's gradients with torch autograd on a
    torch copy of the network and logs the largest absolute difference from handgrad's as ``grad_parity``,
    and each layer's as ``grad_parity/<layer>`` (``layers.0`` ...).

    With a learner's ops file (``--model.ops``) the copy runs each piece's reference (torch's op)
    and the learner's gradients are compared with autograd's: a backward that passes the checks
    but is wrong for the inputs training gives shows here, in the layer it belongs to.

    Needs the Classifier (it reads the update's samples from ``current_update`` and its ``loss_name``).
    The torch gradient is of the update's mean cost in one pass, which is what the Classifier's
    chunks add up to.

    Args:
        every_n_steps: check one update (optimizer step) in this many, starting with the first. Default: 50.

    ``history`` holds (step, largest absolute difference) pairs; ``layer_history`` holds
    (step, {layer: largest absolute difference}) pairs.
    """

    def __init__(self, every_n_steps: int = 50):
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"GradientParity: every_n_steps must be an int >= 1, got {every_n_steps!r}")
        self.every_n_steps = every_n_steps
        self.history, self.layer_history = [], []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        step = trainer.global_step
        if step % self.every_n_steps:
            return
        if getattr(pl_module, "current_update", None) is None or not hasattr(pl_module, "loss_name"):
            raise TypeError(
                f"GradientParity: needs handgrad.lightning.Classifier (current_update, loss_name), "
                f"got {type(pl_module).__name__}"
            )
        layers = self.layer_differences(pl_module)
        difference = max(layers.values())
        self.history.append((step, difference))
        self.layer_history.append((step, layers))
        pl_module.log("grad_parity", difference, prog_bar=True)
        for layer, value in layers.items():
            pl_module.log(f"grad_parity/{layer}", value)

    @staticmethod
    def largest_difference(classifier):
        return max(GradientParity.layer_differences(classifier).values())

    @staticmethod
    def layer_differences(classifier):
        """{layer name: largest absolute difference of its parameters' gradients from autograd's}."""
        inputs, targets = classifier.current_update
        learner = getattr(classifier, "learner", None)
        twin = learner.network.twin() if learner is not None else torch_twin(classifier.network)
        names = [name for name, p in classifier.network.named_parameters() if p.grad is not None]
        twin_params = dict(twin.named_parameters())
        with torch.enable_grad():
            if learner is not None:
                value = learner.ops.cost(twin(inputs), targets, reference=True)
            else:
                value = cost(twin(inputs), targets, classifier.loss_name, "torch")
            torch_grads = torch.autograd.grad(value, [twin_params[name] for name in names])
        handgrad_grads = dict(classifier.network.named_parameters())
        layers = {}
        for name, grad in zip(names, torch_grads):
            layer = name.rpartition(".")[0] or name
            difference = (handgrad_grads[name].grad - grad).abs().max().item()
            layers[layer] = max(layers.get(layer, 0.0), difference)
        return layers
