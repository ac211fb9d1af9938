"""Training the classifier: backends agree update by update, for each descent variant."""
import lightning as L
import pytest
import torch

from datamodules import DigitsDataModule
from handgrad.lightning import Classifier
from handgrad.models import MLP
from training_helpers import SGDClassifier, fit_losses


def run(descent, backend, fused=True, batch_size=10, loss="cross_entropy", **model_kwargs):
    L.seed_everything(7, verbose=False)
    data = DigitsDataModule(descent=descent, batch_size=batch_size, val_fraction=0.0, seed=7)
    model = SGDClassifier(hidden_sizes=[30], activation="sigmoid", backend=backend, fused=fused, loss=loss,
                          **model_kwargs)
    return fit_losses(model, data), model


@pytest.mark.parametrize("descent", ["batch", "stochastic", "minibatch"])
def test_handgrad_and_torch_backends_give_the_same_loss_at_every_update(descent):
    handgrad_losses, handgrad_model = run(descent, "handgrad")
    torch_losses, torch_model = run(descent, "torch")
    train_size = 1438  # 80% of the 1,797 digits, rounded per class
    expected_updates = {"batch": 1, "stochastic": train_size, "minibatch": -(-train_size // 10)}[descent]
    assert len(handgrad_losses) == len(torch_losses) == expected_updates
    assert (handgrad_losses - torch_losses).abs().max() <= 1e-5
    for a, b in zip(handgrad_model.parameters(), torch_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    if descent != "batch":
        assert handgrad_losses[-50:].mean() < handgrad_losses[:50].mean()  # it learns


@pytest.mark.parametrize("loss", ["nll", "mse"])
def test_every_cost_agrees_between_backends(loss):
    handgrad_losses, _ = run("minibatch", "handgrad", loss=loss)
    torch_losses, _ = run("minibatch", "torch", loss=loss)
    assert (handgrad_losses - torch_losses).abs().max() <= 1e-5


def test_per_layer_functions_and_fused_stack_agree():
    fused, _ = run("minibatch", "handgrad", fused=True)
    per_layer, _ = run("minibatch", "handgrad", fused=False)
    assert (fused - per_layer).abs().max() <= 1e-5


@pytest.mark.parametrize("backend", ["handgrad", "torch"])
def test_batch_descent_in_chunks_equals_one_pass(backend):
    L.seed_everything(3, verbose=False)
    data = DigitsDataModule(descent="batch", val_fraction=0.0)
    whole = SGDClassifier(hidden_sizes=[30], backend=backend)
    L.seed_everything(3, verbose=False)
    chunked = SGDClassifier(hidden_sizes=[30], backend=backend, chunk_size=100)
    whole_losses = fit_losses(whole, data, epochs=3)
    chunked_losses = fit_losses(chunked, data, epochs=3)
    torch.testing.assert_close(whole_losses, chunked_losses, rtol=1e-5, atol=1e-6)
    for a, b in zip(whole.parameters(), chunked.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_any_network_trains_through_the_classifier():
    network = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    model = SGDClassifier(network=network, backend="torch")
    losses = fit_losses(model, DigitsDataModule(val_fraction=0.0, batch_size=16), epochs=1)
    assert losses[-10:].mean() < losses[:10].mean()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(loss="hinge"), "loss must be one of mse, quadratic, cross_entropy, nll, bce; got 'hinge'"),
        (dict(activation="gelu"), "activation must be one of sigmoid, tanh, relu, leaky_relu; got 'gelu'"),
        (dict(backend="jax"), "backend must be one of handgrad, torch; got 'jax'"),
        (dict(hidden_sizes=[0]), "layer sizes must be ints >= 1"),
        (dict(chunk_size=0), "chunk_size must be an int >= 1 or None"),
    ],
)
def test_bad_model_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as info:
        Classifier(**kwargs)
    assert message in str(info.value)


def test_mlp_backends_share_parameter_names_and_initialisation():
    torch.manual_seed(0)
    ours = MLP(64, [30], 10, backend="handgrad")
    torch.manual_seed(0)
    theirs = MLP(64, [30], 10, backend="torch")
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key in ours.state_dict():
        assert torch.equal(ours.state_dict()[key], theirs.state_dict()[key])


class CountSteps(L.Callback):
    """Listens at every optimizer step, which sends updates through Lightning's own step."""

    def __init__(self):
        self.calls = 0

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.calls += 1


@pytest.mark.parametrize("descent", ["stochastic", "minibatch"])
def test_lean_updates_equal_lightning_steps(descent):
    from training_helpers import quiet_trainer

    results = []
    for listener in (None, CountSteps()):
        L.seed_everything(5, verbose=False)
        data = DigitsDataModule(descent=descent, batch_size=10, val_fraction=0.0)
        model = SGDClassifier(hidden_sizes=[30])
        trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, callbacks=[listener] if listener else [])
        trainer.fit(model, data)
        results.append((model, trainer.global_step, model._lean_steps))
    (lean, lean_steps, lean_used), (hooked, hooked_steps, hooked_used) = results
    assert lean_used and not hooked_used
    assert lean_steps == hooked_steps == results[1][0].trainer.callbacks[0].calls > 0  # global_step counts updates
    for a, b in zip(lean.parameters(), hooked.parameters()):
        assert torch.equal(a, b)
