"""The digit classifier as a LightningModule: any network, handgrad's costs, many updates per step."""
import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from handgrad.backprop import COSTS, accumulate_gradients, cost
from handgrad.models import BACKENDS, MLP


class Classifier(L.LightningModule):
    """Classifies inputs into ``num_classes`` classes, trained by gradient descent.

    Each training step receives a block of consecutive updates from the datamodule
    (see ``datamodules.descent``) and takes them one by one (manual optimization), so
    that batch, stochastic and mini-batch descent run the same code. With the handgrad
    backend and a fused MLP, gradients come from the hand-written backward of the whole
    dense stack without the autograd engine (``handgrad.backprop``); otherwise from
    autograd running the network's own backward (handgrad's Functions or torch's).

    Args:
        network: any module mapping inputs to logits (e.g. a torchvision model); when
            None, an MLP is built from hidden_sizes / activation / backend. Default: None.
        hidden_sizes: hidden layer sizes of the MLP. Default: [30].
        activation: 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu'. Default: 'sigmoid'.
        loss: 'cross_entropy' | 'nll' (log loss on log_softmax) | 'mse' (sigmoid outputs
            against one-hot targets). Default: 'cross_entropy'.
        backend: 'handgrad' | 'torch': the same MLP from handgrad.nn or torch.nn, and the
            cost from handgrad.functional or torch.nn.functional. Default: 'handgrad'.
        fused: with the handgrad MLP, use the whole-stack backward. Default: True.
        swap: swap handgrad's layers into ``network`` with handgrad.swap. Default: False.
        in_features: input size (linked from the datamodule by the CLI). Default: 64.
        num_classes: number of classes (linked from the datamodule by the CLI). Default: 10.
        chunk_size: most samples per forward pass; larger updates accumulate gradients
            over chunks. Default: None (one pass per update).
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        hidden_sizes: list[int] = [30],
        activation: str = "sigmoid",
        loss: str = "cross_entropy",
        backend: str = "handgrad",
        fused: bool = True,
        swap: bool = False,
        in_features: int = 64,
        num_classes: int = 10,
        chunk_size: int | None = None,
    ):
        super().__init__()
        if loss not in COSTS:
            raise ValueError(f"Classifier: loss must be one of {', '.join(COSTS)}; got {loss!r}")
        if backend not in BACKENDS:
            raise ValueError(f"Classifier: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"Classifier: chunk_size must be an int >= 1 or None, got {chunk_size!r}")
        self.save_hyperparameters(ignore=["network"])
        self.automatic_optimization = False
        if network is None:
            network = MLP(in_features, list(hidden_sizes), num_classes, activation, backend, fused)
        if swap:
            from handgrad.swap import swap as swap_modules

            network, self.swap_report = swap_modules(network)
        self.network = network
        self.loss_name, self.backend, self.chunk_size = loss, backend, chunk_size
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, inputs):
        return self.network(inputs)

    @property
    def _explicit_backprop(self):
        return isinstance(self.network, MLP) and self.network.uses_dense_stack

    def _update_gradients(self, inputs, targets):
        """Set every parameter's .grad to the gradient of the mean cost over this update's samples."""
        self.current_update = (inputs, targets)  # read by callbacks at optimizer.step (handgrad.callbacks)
        size = len(inputs)
        chunk = self.chunk_size or size
        total = 0.0
        for start in range(0, size, chunk):
            x, y = inputs[start:start + chunk], targets[start:start + chunk]
            if self._explicit_backprop:
                total = total + accumulate_gradients(self.network, x, y, self.loss_name, 1.0 / size)
            else:
                # the chunk's mean cost, weighted by its share of the update
                value = cost(self.network(x), y, self.loss_name, self.backend) * (len(x) / size)
                self.manual_backward(value)
                total = total + value.detach()
        return total

    def training_step(self, block, batch_idx):
        optimizer = self.optimizers()
        inputs, targets, update_size = block["inputs"], block["targets"], block["update_size"]
        starts = range(0, len(inputs), update_size)
        losses = torch.empty(len(starts))
        params = [p for p in self.parameters() if p.requires_grad]
        for index, start in enumerate(starts):
            for param in params:  # what optimizer.zero_grad() does, without its per-call cost
                param.grad = None
            loss = self._update_gradients(inputs[start:start + update_size], targets[start:start + update_size])
            optimizer.step()
            losses[index] = loss
        self.log("train_loss", losses.mean(), prog_bar=True)
        return {"update_losses": losses}

    def on_train_epoch_end(self):
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()

    def _shared_step(self, batch, stage):
        inputs, targets = batch
        logits = self(inputs)
        loss = cost(logits, targets, self.loss_name, "torch")
        metric = self.val_acc if stage == "val" else self.test_acc
        metric(logits.argmax(1), targets)
        self.log(f"{stage}_loss", loss, prog_bar=True)
        self.log(f"{stage}_acc", metric, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self(batch[0]).argmax(1)

    def configure_optimizers(self):
        from handgrad.optim import GradientDescent

        return GradientDescent(self.parameters(), lr=0.1)
