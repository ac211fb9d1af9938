"""The digit classifier as a LightningModule: any network, handgrad's costs, many updates per step."""
import contextlib
import numbers

import lightning as L
import torch
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from handgrad import _compat, costs, distributed, interrupt, learner_ops
from handgrad.backprop import accumulate_gradients
from handgrad.costs import cost
from handgrad.models import BACKENDS, MLP
from handgrad.trainer_options import OptionRefused, check_trainer_options

NONFINITE = ("stop", "warn")
BACKPROPS = ("explicit", "autograd")
CLIP_ALGORITHMS = ("norm", "value")


class Classifier(L.LightningModule):
    """Classifies inputs into ``num_classes`` classes, trained by gradient descent.

    Each training step receives a block of consecutive updates from the datamodule
    (see ``datamodules.descent``) and takes them one by one (manual optimization), so
    that batch, stochastic and mini-batch descent run the same code. A plain
    ``(inputs, targets)`` batch (any DataLoader) is one update. With the handgrad backend,
    a fused MLP and ``backprop='explicit'``, gradients come from the hand-written backward
    of the whole dense stack without the autograd engine (``handgrad.backprop``); otherwise
    from autograd running the network's own backward (handgrad's Functions or torch's),
    through ``manual_backward``. Trainer options either path cannot honour are refused when
    training starts (``handgrad.trainer_options``; the table is in docs/training.md).

    Args:
        network: any module mapping inputs to logits (e.g. a torchvision model); when
            None, an MLP is built from hidden_sizes / activation / backend. Default: None.
        hidden_sizes: hidden layer sizes of the MLP built when no network is given (refused
            with a network). Default: None, which means [30].
        activation: 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu', of the MLP built when no network
            is given (refused with a network). Default: None, which means 'sigmoid'.
        loss: the cost on the logits z, with a = sigmoid(z), p = softmax(z), t = one-hot of y (docs/costs.md):
            {costs}
            Default: 'cross_entropy'.
        backend: 'handgrad' | 'torch': the same MLP from handgrad.nn or torch.nn, and the
            cost from handgrad.functional or torch.nn.functional. Default: 'handgrad'.
        fused: with the handgrad MLP, use the whole-stack backward. Default: True.
        backprop: 'explicit' trains the fused handgrad MLP without the autograd engine (the
            fastest path; other networks always use autograd); 'autograd' runs its backward
            through autograd and ``manual_backward``, which mixed precision, backward hooks
            and anomaly detection need. Default: 'explicit'.
        swap: swap handgrad's layers into ``network`` with handgrad.swap. Default: False.
        in_features: input size (linked from the datamodule by the CLI). Default: 64.
        num_classes: number of classes (linked from the datamodule by the CLI). Default: 10.
        chunk_size: most samples per forward pass; larger updates accumulate gradients
            over chunks. Default: None (one pass per update).
        nonfinite: what a NaN or infinite training loss does: 'stop' raises FloatingPointError
            naming the update, 'warn' warns and trains on. Checked once per training step,
            from the step's update losses. Default: 'stop'.
        gradient_clip_val: clip every update's gradients to this value (Lightning's
            ``Trainer(gradient_clip_val)`` applies only under automatic optimization), through
            ``LightningModule.clip_gradients``. Default: None (no clipping).
        gradient_clip_algorithm: 'norm' (the gradients' total 2-norm) | 'value' (each entry).
            Default: 'norm'.
        ops: path of a learner's ops file (see ``handgrad.learner_ops``): the MLP is run by its
            Linear and Activation, the cost is its Cost, the update its Optimizer when it has one.
            Default: None (handgrad's own).
        ops_check: with ``ops``, check each of the learner's pieces before the first update and
            stop when one fails. Default: True.

    Under data parallelism (``--trainer.strategy ddp``) each process holds a share of every
    update's samples and the gradients are averaged over all processes after each update
    (``handgrad.distributed``), so the updates are those of one process on all the samples.
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        hidden_sizes: list[int] | None = None,
        activation: str | None = None,
        loss: str = "cross_entropy",
        backend: str = "handgrad",
        fused: bool = True,
        backprop: str = "explicit",
        swap: bool = False,
        in_features: int = 64,
        num_classes: int = 10,
        chunk_size: int | None = None,
        nonfinite: str = "stop",
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
        ops: str | None = None,
        ops_check: bool = True,
    ):
        super().__init__()
        if network is not None:
            given = [f"{name}={value!r}" for name, value in (("hidden_sizes", hidden_sizes), ("activation", activation))
                     if value is not None]
            if given:
                raise ValueError(
                    f"Classifier: {' and '.join(given)} would be ignored: they shape the MLP built when no network is "
                    f"given; remove them, or drop the network"
                )
        if backprop not in BACKPROPS:
            raise ValueError(f"Classifier: backprop must be one of {', '.join(BACKPROPS)}; got {backprop!r}")
        if gradient_clip_val is not None and (
                isinstance(gradient_clip_val, bool) or not isinstance(gradient_clip_val, numbers.Real)
                or not gradient_clip_val > 0):
            raise ValueError(f"Classifier: gradient_clip_val must be a number > 0 or None, got {gradient_clip_val!r}")
        if gradient_clip_algorithm not in CLIP_ALGORITHMS:
            raise ValueError(f"Classifier: gradient_clip_algorithm must be one of {', '.join(CLIP_ALGORITHMS)}; "
                             f"got {gradient_clip_algorithm!r}")
        costs.check_cost("Classifier", loss)
        if backend not in BACKENDS:
            raise ValueError(f"Classifier: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"Classifier: chunk_size must be an int >= 1 or None, got {chunk_size!r}")
        if nonfinite not in NONFINITE:
            raise ValueError(f"Classifier: nonfinite must be one of {', '.join(NONFINITE)}; got {nonfinite!r}")
        self.save_hyperparameters(ignore=["network"])
        self.automatic_optimization = False
        # with a learner's ops file, the network, the cost and the optimizer are the learner's (handgrad.learner_ops)
        options = dict(activation=activation or "sigmoid", loss=loss, backend=backend, fused=fused,
                       in_features=in_features, hidden_sizes=[30] if hidden_sizes is None else hidden_sizes,
                       num_classes=num_classes)
        self.learner = learner_ops.learner_network(ops, ops_check, network, swap, options)
        if self.learner is not None:
            network = self.learner.network
        if network is None:
            sizes = [30] if hidden_sizes is None else list(hidden_sizes)
            network = MLP(in_features, sizes, costs.output_units(loss, num_classes), activation or "sigmoid", backend,
                          fused)
        if self.learner is None:  # a learner's cost is applied as written, adding nothing
            costs.check_network_ending(loss, network)
        if swap:
            from handgrad.swap import swap as swap_modules

            network, self.swap_report = swap_modules(network)
        self.network = network
        self.loss_name, self.backend, self.chunk_size, self.nonfinite = loss, backend, chunk_size, nonfinite
        self.backprop, self.num_classes = backprop, num_classes
        self.clip = None if gradient_clip_val is None else dict(
            gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        # means weighted by sample count, so that processes holding unequal shares give the global mean;
        # a NaN loss is kept as NaN (torchmetrics' default drops it; its "disable" drops the weights)
        self.val_loss, self.test_loss = (MeanMetric(nan_strategy=float("nan")) for _ in range(2))
        # the current update's samples, for callbacks; a plain dict, since nn.Module's __setattr__
        # costs more than a one-sample update can spare
        self._update_record = {}
        self._lean_steps = False
        self._output_checked = False

    @property
    def current_update(self):
        """(inputs, targets) of the update being taken, or None before the first."""
        return self._update_record.get("samples")

    def forward(self, inputs):
        return self.network(inputs)

    @property
    def uses_explicit_backprop(self):
        """Whether training runs handgrad.backprop (no autograd engine): the fused handgrad MLP, backprop='explicit'."""
        return self.backprop == "explicit" and isinstance(self.network, MLP) and self.network.uses_dense_stack

    def _update_gradients(self, inputs, targets, params, world, stack_params=None):
        """Set every parameter's .grad to the gradient of the mean cost over this update's samples
        (over every process's samples when ``world`` > 1); return that mean cost. ``stack_params``
        are the MLP's (W_1, b_1, ...) for handgrad's explicit backprop, None for autograd."""
        self._update_record["samples"] = (inputs, targets)  # read by callbacks at optimizer.step
        size = len(inputs)
        # alone, each chunk's cost is weighted by its share of the update; under data parallelism
        # by its sample count (a summed cost), and average_update divides by the global count
        weight = 1.0 / size if world == 1 else 1.0
        chunk = self.chunk_size or max(size, 1)
        total = 0.0
        for start in range(0, size, chunk):
            x, y = (inputs, targets) if chunk >= size else (inputs[start:start + chunk], targets[start:start + chunk])
            if stack_params is not None:
                part = accumulate_gradients(self.network, x, y, self.loss_name, weight, stack_params)
            else:
                # the chunk's mean cost, weighted as above
                part = self._cost(self.network(x), y, self.backend) * (len(x) * weight)
                self.manual_backward(part)
                part = part.detach()
            total = part if start == 0 else total + part  # one pass (the usual case) adds nothing
        if world > 1:
            return distributed.average_update(params, total, size)
        return total

    def _without_ddp_reducer(self):
        """DDP's reducer would all-reduce the gradients autograd computes (the torch path) at every
        backward: a second exchange on top of the one per update that _update_gradients makes."""
        model = self.trainer.strategy.model
        return model.no_sync() if isinstance(model, DistributedDataParallel) else contextlib.nullcontext()

    def on_train_start(self):
        check_trainer_options(self.trainer, self)  # anomaly detection is on, if asked, from here on
        self._lean_steps = self._nothing_hooks_optimizer_steps()

    def _nothing_hooks_optimizer_steps(self):
        """Whether updates may skip Lightning's and torch.optim's per-step machinery (hook calls,
        profiler labels: more than a one-sample update of a small MLP costs). Only for handgrad's
        own backprop and optimizers, on one process, with no step hook, callback, profiler or
        scheduler that would miss a call; the update itself is the same either way."""
        from handgrad.optim import HandgradOptimizer

        optimizer = self.optimizers().optimizer
        listening = [type(callback).on_before_optimizer_step is not L.Callback.on_before_optimizer_step
                     for callback in self.trainer.callbacks]
        return (
            self.uses_explicit_backprop
            and isinstance(optimizer, HandgradOptimizer)
            and self.trainer.world_size == 1
            and isinstance(self.trainer.profiler, PassThroughProfiler)
            and not self.lr_schedulers()
            and not any(listening)
            and type(self).on_before_optimizer_step is L.LightningModule.on_before_optimizer_step
            and not _compat.optimizer_step_hooks(optimizer)
        )

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        inputs, targets, update_size, num_updates = self._updates_in(batch)
        # a block stopped part-way by Ctrl-C comes again with the losses of the updates it took
        first_update = batch.get("first_update", 0) if isinstance(batch, dict) else 0
        losses = list(batch["losses_taken"]) if first_update else []
        num_updates = first_update + self._updates_left(num_updates - first_update)
        params = [p for p in self.parameters() if p.requires_grad]
        world = distributed.world_size()
        stack_params = self.network.dense_params() if self.uses_explicit_backprop else None
        count_update = _compat.update_counter(self.trainer) if self._lean_steps else None
        # lean updates record no graph: grad mode off once for the block, not per call
        no_graph = torch.no_grad() if self._lean_steps else contextlib.nullcontext()
        with self._without_ddp_reducer(), no_graph:
            for index in range(first_update, num_updates):
                if interrupt.requested():  # Ctrl-C: the update before this one was the last
                    interrupt.stop_within_block(self, index, losses)
                start = index * update_size
                for param in params:  # what optimizer.zero_grad() does, without its per-call cost
                    param.grad = None
                loss = self._update_gradients(
                    inputs[start:start + update_size], targets[start:start + update_size], params, world, stack_params
                )
                if self.clip is not None:
                    self.clip_gradients(optimizer, **self.clip)
                if self._lean_steps:
                    optimizer.optimizer.apply_update()
                    count_update()  # what LightningOptimizer.step counts: trainer.global_step
                else:
                    optimizer.step()
                losses.append(loss)
        losses = torch.stack([torch.as_tensor(loss, dtype=torch.float32) for loss in losses]) if losses else torch.empty(0)
        self._check_finite(losses, batch_idx)
        self._show_train_loss(losses.mean())
        return {"update_losses": losses}

    def _show_train_loss(self, mean_loss):
        """The block's mean loss as ``train_loss``, for callbacks (an EarlyStopping or ModelCheckpoint
        monitor) and for the progress bar. Put into the trainer's public metric dicts, as Lightning's
        LearningRateMonitor does, rather than through self.log, whose result collection costs more than
        a whole update of batch descent on the digits. Loggers get every update's loss from
        handgrad.metrics_log.TrainingLoss instead of the block means."""
        mean_loss = mean_loss.detach()
        self.trainer.callback_metrics["train_loss"] = mean_loss
        self.trainer.progress_bar_metrics["train_loss"] = float(mean_loss)

    @staticmethod
    def _updates_in(batch):
        """(inputs, targets, samples per update, updates) of a block of the descent switch, or of a
        plain (inputs, targets) batch, which is one update."""
        if isinstance(batch, dict):
            # num_updates is the same on every process, even where a share is empty
            return batch["inputs"], batch["targets"], batch["update_size"], batch["num_updates"]
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            inputs, targets = batch
            return inputs, targets, len(inputs), 1
        raise TypeError(
            f"Classifier: a training batch must be an (inputs, targets) pair or a block of the descent switch "
            f"(datamodules.descent.UpdateBlocks), got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )

    def _updates_left(self, num_updates):
        """The block's updates, cut short where trainer.max_steps (which counts updates) ends the run."""
        max_steps = self.trainer.max_steps
        if max_steps is None or max_steps < 0:
            return num_updates
        return max(min(num_updates, max_steps - self.global_step), 0)

    def _check_output_size(self, batch):
        """Once, at the first batch of any stage: the network's outputs must be one per class."""
        if self._output_checked:
            return
        self._output_checked = True
        inputs = batch["inputs"] if isinstance(batch, dict) else batch[0]
        if len(inputs) == 0:
            self._output_checked = False  # an empty share under data parallelism: check at the next batch
            return
        sample = inputs[:1]
        weight = next(self.network.parameters(), None)
        if weight is not None and sample.is_floating_point():
            sample = sample.to(weight.dtype)  # outside the precision plugin's forward (64-true)
        training = self.network.training
        self.network.eval()  # no side effect: batch norm's running statistics stay as they are
        try:
            with torch.no_grad():
                outputs = self.network(sample)
        finally:
            self.network.train(training)
        # one logit per class; one in all for a two-class task trained with binary cross-entropy
        expected = costs.output_units(self.loss_name, self.num_classes)
        if outputs.dim() != 2 or outputs.shape[1] != expected:
            what = "one logit per class" if expected == self.num_classes else f"loss {self.loss_name!r} on two classes"
            raise OptionRefused(
                f"model.network: the network gives outputs of shape {tuple(outputs.shape[1:])} per sample, but the data "
                f"has {self.num_classes} classes: its last layer must give {expected} outputs ({what})"
            )

    def on_train_batch_start(self, batch, batch_idx):
        self._check_output_size(batch)

    def on_validation_batch_start(self, batch, batch_idx, dataloader_idx=0):
        self._check_output_size(batch)

    def on_test_batch_start(self, batch, batch_idx, dataloader_idx=0):
        self._check_output_size(batch)

    def on_predict_batch_start(self, batch, batch_idx, dataloader_idx=0):
        self._check_output_size(batch)

    def _check_finite(self, losses, batch_idx):
        """One check per block, on the block's losses: cheap next to the updates themselves."""
        finite = torch.isfinite(losses)
        if bool(finite.all()):
            return
        first = int((~finite).nonzero()[0])
        update = self.global_step - len(losses) + first + 1  # global_step counts the updates taken
        message = (
            f"Classifier: the training loss is {float(losses[first])} at update {update} "
            f"(epoch {self.current_epoch}, training step {batch_idx}); "
        )
        if self.nonfinite == "stop":
            raise FloatingPointError(message + "stopping (model.nonfinite='warn' trains on)")
        rank_zero_warn(message + "training on (model.nonfinite='warn')", category=RuntimeWarning)

    def on_train_epoch_end(self):
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()

    def _shared_step(self, batch, stage):
        inputs, targets = batch
        logits = self(inputs)
        loss = self._cost(logits, targets, "torch")
        accuracy, mean_loss = (self.val_acc, self.val_loss) if stage == "val" else (self.test_acc, self.test_loss)
        accuracy(costs.predict(logits), targets)
        mean_loss(loss, weight=len(targets))
        self.log(f"{stage}_loss", mean_loss, prog_bar=True)
        self.log(f"{stage}_acc", accuracy, prog_bar=True)

    def _cost(self, outputs, targets, backend):
        if self.learner is not None:
            return self.learner.ops.cost(outputs, targets)
        return cost(outputs, targets, self.loss_name, backend)

    def on_fit_start(self):
        if self.learner is not None:
            learner_ops.before_fit(self.learner, self.optimizers(), self.hparams.ops_check)

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return costs.predict(self(batch[0]))

    def configure_optimizers(self):
        from handgrad.optim import GradientDescent

        if self.learner is not None and self.learner.ops.optimizer is not None:
            return self.learner.ops.make_optimizer(self.parameters())
        return GradientDescent(self.parameters(), lr=0.1)


# the loss argument's help (handgrad fit --help) lists the table of handgrad.costs, defined once there
Classifier.__doc__ = Classifier.__doc__.replace("{costs}", costs.cost_help("\n" + " " * 12))
