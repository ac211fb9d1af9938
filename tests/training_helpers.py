"""Helpers for the training tests: quiet trainers and per-update loss recording."""
import lightning as L
import torch

from handgrad.lightning import Classifier
from handgrad.optim import GradientDescent


class SGDClassifier(Classifier):
    """The classifier with gradient descent (lr 0.1, momentum 0.5), as the training tests use it."""

    def configure_optimizers(self):
        return GradientDescent(self.parameters(), lr=0.1, momentum=0.5)


class UpdateLosses(L.Callback):
    """Collects the loss of every parameter update, in order."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses += outputs["update_losses"].tolist()


def quiet_trainer(**kwargs):
    options = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1)
    options.update(kwargs)
    return L.Trainer(**options)


def fit_losses(model, data, epochs=1, **trainer_kwargs):
    recorder = UpdateLosses()
    trainer = quiet_trainer(max_epochs=epochs, callbacks=[recorder], limit_val_batches=0, **trainer_kwargs)
    trainer.fit(model, data)
    return torch.tensor(recorder.losses, dtype=torch.float64)
