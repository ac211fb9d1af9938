"""handgrad.callbacks: per-update losses, per-layer gradient norms and live gradient parity during training."""
import lightning as L
import pytest
import torch

from datamodules import DigitsDataModule
from handgrad.callbacks import GradientNorms, GradientParity, UpdateLosses
from handgrad.cli import HandgradCLI
from handgrad.lightning import Classifier
from training_helpers import quiet_trainer


def fit(callbacks, fused=True, loss="cross_entropy", descent="minibatch", batch_size=64, hidden=(30, 20), **model):
    L.seed_everything(3, verbose=False)
    data = DigitsDataModule(descent=descent, batch_size=batch_size, val_fraction=0.0, updates_per_step=8)
    sizes = None if "network" in model else list(hidden)  # a network comes with its own sizes
    classifier = Classifier(hidden_sizes=sizes, fused=fused, loss=loss, **model)
    trainer = quiet_trainer(max_epochs=1, callbacks=callbacks, limit_val_batches=0)
    trainer.fit(classifier, data)
    return trainer, classifier


@pytest.mark.parametrize("fused", [True, False])
def test_gradient_norms_give_one_value_per_layer_per_update(fused):
    norms = GradientNorms()
    trainer, classifier = fit([norms], fused=fused)
    updates = trainer.global_step
    assert updates == 23  # ceil(1438 / 64)
    assert len(norms.history) == 3 * updates
    assert [record["name"] for record in norms.history[:3]] == ["layers.0", "layers.1", "layers.2"]
    assert [record["layer"] for record in norms.history[:3]] == [0, 1, 2]
    assert all(record["norm"] > 0 for record in norms.history)
    for name in ("layers.0", "layers.1", "layers.2"):
        assert f"grad_norm/{name}" in trainer.callback_metrics


def test_gradient_norms_agree_between_the_fused_and_per_layer_paths():
    fused, per_layer = GradientNorms(), GradientNorms()
    fit([fused], fused=True)
    fit([per_layer], fused=False)
    torch.testing.assert_close(torch.tensor([r["norm"] for r in fused.history]),
                               torch.tensor([r["norm"] for r in per_layer.history]), rtol=1e-4, atol=1e-7)


def test_gradient_norms_every_n_updates():
    norms = GradientNorms(every_n_updates=10)
    fit([norms])
    assert sorted({record["update"] for record in norms.history}) == [0, 10, 20]


@pytest.mark.parametrize("fused, loss", [(True, "cross_entropy"), (False, "cross_entropy"), (True, "mse"),
                                         (False, "nll")])
def test_gradient_parity_finds_handgrad_and_torch_agree(fused, loss):
    parity = GradientParity(every_n_steps=5)
    trainer, _ = fit([parity], fused=fused, loss=loss)
    assert [step for step, _ in parity.history] == [0, 5, 10, 15, 20]
    assert max(difference for _, difference in parity.history) < 1e-5
    assert trainer.callback_metrics["grad_parity"] < 1e-5


def test_gradient_parity_checks_a_swapped_network():
    network = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10))
    parity = GradientParity(every_n_steps=7)
    fit([parity], network=network, swap=True)
    assert parity.history and max(difference for _, difference in parity.history) < 1e-5


class SpoilGradients(L.Callback):
    """Stands for a wrong hand-written backward: scales the gradients before the parity check sees them."""

    def on_before_optimizer_step(self, trainer, module, optimizer):
        for param in module.parameters():
            param.grad.mul_(1.1)


def test_gradient_parity_notices_a_wrong_gradient():
    parity = GradientParity(every_n_steps=5)
    fit([SpoilGradients(), parity])
    assert min(difference for _, difference in parity.history) > 1e-3


def test_update_losses_records_every_update_with_increasing_times():
    recorder = UpdateLosses()
    trainer, _ = fit([recorder], descent="stochastic", hidden=(10,))
    assert len(recorder.losses) == len(recorder.times) == len(recorder.epochs) == 1438 == trainer.global_step
    assert all(a < b for a, b in zip(recorder.times, recorder.times[1:]))
    assert recorder.epoch_seconds[0] == pytest.approx(recorder.times[-1])


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_bad_intervals_are_rejected(value):
    with pytest.raises(ValueError, match="every_n_steps must be an int >= 1"):
        GradientParity(every_n_steps=value)
    with pytest.raises(ValueError, match="every_n_updates must be an int >= 1"):
        GradientNorms(every_n_updates=value)


def parsed_callbacks(args):
    cli = HandgradCLI(Classifier, subclass_mode_data=True, run=False, save_config_callback=None, args=args,
                      trainer_defaults=dict(logger=False, enable_progress_bar=False))
    return cli.trainer.callbacks


def test_the_cli_switches_gradient_parity_on():
    on_command_line = parsed_callbacks(["--config", "experiments/configs/digits.yaml",
                                        "--trainer.callbacks+=handgrad.callbacks.GradientParity",
                                        "--trainer.callbacks.every_n_steps", "50"])
    in_config = parsed_callbacks(["--config", "experiments/configs/digits_parity.yaml"])
    for callbacks in (on_command_line, in_config):
        parity = [callback for callback in callbacks if isinstance(callback, GradientParity)]
        assert len(parity) == 1 and parity[0].every_n_steps == 50
