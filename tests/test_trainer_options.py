"""Every Trainer option of docs/training.md's table, honoured or refused: one test per row.

An option works as Lightning documents it (the test shows what it changes), or ``fit`` stops
before the first update with one line naming the option and what to use instead.

To run:  python -m pytest tests/test_trainer_options.py
"""
import time

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.profilers import SimpleProfiler

import handgrad
from datamodules import DigitsDataModule
from handgrad.lightning import Classifier
from handgrad.trainer_options import OptionRefused
from reliability_helpers import ROOT, one_thread, run_cli  # noqa: F401 (one_thread: a fixture)
from training_helpers import SGDClassifier, UpdateLosses, fit_losses, quiet_trainer

pytestmark = pytest.mark.usefixtures("one_thread")
DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")
AUTOGRAD = "use --model.backprop autograd"


UPDATES = 40  # per epoch: 1,257 training digits (70%) in updates of 32


def digits(updates_per_step=8, batch_size=32, **kwargs):
    """1,257 training digits in updates of 32: 40 updates per epoch, in blocks of 8 (5 blocks)."""
    return DigitsDataModule(batch_size=batch_size, updates_per_step=updates_per_step, val_fraction=0.1, **kwargs)


def model(**kwargs):
    L.seed_everything(0, verbose=False)
    return SGDClassifier(hidden_sizes=[8], **kwargs)


def refused(trainer_kwargs, words, **model_kwargs):
    """fit stops with OptionRefused before any update; its one line holds ``words``."""
    classifier = model(**model_kwargs)
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, **trainer_kwargs)
    with pytest.raises(OptionRefused) as info:
        trainer.fit(classifier, digits())
    assert trainer.global_step == 0
    assert "\n" not in str(info.value) and all(word in str(info.value) for word in words), str(info.value)


class OutputDtype(L.Callback):
    def on_train_start(self, trainer, module):
        self.dtypes = []
        module.network.register_forward_hook(lambda mod, args, out: self.dtypes.append(out.dtype))


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_runs_under_autocast_on_the_autograd_path(precision):
    recorder = OutputDtype()
    classifier = model(backprop="autograd")
    with pytest.warns(UserWarning) if precision == "16-mixed" else _nothing():  # Lightning: bf16 on a CPU
        trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, precision=precision, callbacks=[recorder])
    trainer.fit(classifier, digits())
    assert recorder.dtypes.count(torch.bfloat16) == trainer.global_step == UPDATES  # every update's forward
    assert all(param.dtype == torch.float32 and param.isfinite().all() for param in classifier.parameters())


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_is_refused_on_the_explicit_path(precision):
    with pytest.warns(UserWarning) if precision == "16-mixed" else _nothing():
        refused({"precision": precision}, ["trainer.precision bf16-mixed", AUTOGRAD])


def test_mixed_precision_is_refused_for_per_layer_handgrad_functions():
    refused({"precision": "bf16-mixed"}, ["trainer.precision bf16-mixed", "--model.backend torch"],
            backprop="autograd", fused=False)


def test_double_precision_trains_in_float64_on_the_explicit_path():
    classifier = model()
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, precision="64-true")
    trainer.fit(classifier, digits())
    assert classifier.uses_explicit_backprop and trainer.global_step == UPDATES
    assert all(param.dtype == torch.float64 for param in classifier.parameters())


def _nothing():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("args, words", [
    (["--trainer.gradient_clip_val", "0.5"], ["trainer.gradient_clip_val 0.5", "--model.gradient_clip_val 0.5"]),
    (["--trainer.gradient_clip_algorithm", "value"], ["trainer.gradient_clip_algorithm", "--model.gradient_clip_val"]),
    (["--trainer.accumulate_grad_batches", "4"], ["trainer.accumulate_grad_batches 4", "--data.batch_size"]),
    (["--trainer.detect_anomaly", "true"], ["trainer.detect_anomaly", AUTOGRAD]),
    (["--trainer.precision", "bf16-mixed"], ["trainer.precision bf16-mixed", AUTOGRAD]),
])
def test_cli_refuses_in_one_line_before_training(args, words, tmp_path):
    status, lines, _ = run_cli(["fit", "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path), *args])
    errors = [line for line in lines if line.startswith("handgrad: error: ")]
    assert status == 2 and len(errors) == 1 and all(word in errors[0] for word in words), lines
    assert not (tmp_path / "checkpoints").exists()  # no update, no checkpoint


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_model_gradient_clip_val_clips_every_update(algorithm):
    clip, lr = 1e-3, 0.1
    classifier = model(gradient_clip_val=clip, gradient_clip_algorithm=algorithm)
    classifier.configure_optimizers = lambda: handgrad.optim.GradientDescent(classifier.parameters(), lr=lr)
    before = [param.detach().clone() for param in classifier.parameters()]
    quiet_trainer(max_epochs=1, limit_val_batches=0).fit(classifier, digits(descent="batch", updates_per_step=1))
    moves = [param.detach() - old for param, old in zip(classifier.parameters(), before)]
    if algorithm == "norm":  # one update of lr * g with |g| <= clip
        assert torch.sqrt(sum(move.square().sum() for move in moves)) == pytest.approx(lr * clip, rel=1e-4)
    else:
        assert max(float(move.abs().max()) for move in moves) == pytest.approx(lr * clip, rel=1e-4)


class BackwardHooks(L.Callback):
    def __init__(self):
        self.before = self.after = 0

    def on_before_backward(self, trainer, module, loss):
        self.before += 1

    def on_after_backward(self, trainer, module):
        self.after += 1


def test_backward_hooks_run_at_every_update_on_the_autograd_path():
    hooks = BackwardHooks()
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, callbacks=[hooks])
    trainer.fit(model(backprop="autograd"), digits())
    assert hooks.before == hooks.after == trainer.global_step == UPDATES


def test_backward_hooks_are_refused_on_the_explicit_path():
    refused({"callbacks": [BackwardHooks()]}, ["BackwardHooks implements on_before_backward", AUTOGRAD])


class OptimizerStepHook(L.Callback):
    def __init__(self):
        self.calls = 0

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.calls += 1


@pytest.mark.parametrize("backprop", ["explicit", "autograd"])
def test_on_before_optimizer_step_runs_at_every_update(backprop):
    hook = OptimizerStepHook()
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, callbacks=[hook])
    trainer.fit(model(backprop=backprop), digits())
    assert hook.calls == trainer.global_step == UPDATES


class LogsEveryStep(L.Callback):
    """Logs a value at every training step through Lightning's self.log, as a user's callback would."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        module.log("probe", float(batch_idx))


def test_log_every_n_steps_counts_training_steps(tmp_path):
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, log_every_n_steps=2, callbacks=[LogsEveryStep()],
                            logger=CSVLogger(tmp_path, name="log"))
    trainer.fit(model(), digits())  # 5 training steps (blocks of 8 updates)
    rows = (tmp_path / "log" / "version_0" / "metrics.csv").read_text().splitlines()
    probe = rows[0].split(",").index("probe")
    steps = [int(row.split(",")[rows[0].split(",").index("step")]) for row in rows[1:] if row.split(",")[probe]]
    assert steps == [1, 3]  # after training steps 2 and 4 (Lightning logs the training step's index, from 0)


class CountValidations(L.Callback):
    def __init__(self):
        self.epochs = []

    def on_validation_epoch_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.epochs.append((trainer.current_epoch, trainer.global_step))


def test_val_check_interval_counts_training_steps():
    counter = CountValidations()
    quiet_trainer(max_epochs=1, val_check_interval=2, num_sanity_val_steps=0, callbacks=[counter]).fit(
        model(), digits())
    assert counter.epochs == [(0, 16), (0, 32)]  # after blocks 2 and 4 (of 5)


def test_check_val_every_n_epoch():
    counter = CountValidations()
    quiet_trainer(max_epochs=4, check_val_every_n_epoch=2, num_sanity_val_steps=0, callbacks=[counter]).fit(
        model(), digits(updates_per_step=64))
    assert [epoch for epoch, _ in counter.epochs] == [1, 3]


def test_max_steps_counts_updates_even_inside_a_block():
    losses = fit_losses(model(), digits(updates_per_step=64), epochs=3, max_steps=10)
    assert len(losses) == 10


def test_limit_train_batches_counts_training_steps():
    losses = fit_losses(model(), digits(updates_per_step=5), epochs=1, limit_train_batches=2)
    assert len(losses) == 10


def test_max_time_stops_the_run():
    start = time.perf_counter()
    trainer = quiet_trainer(max_epochs=10_000, limit_val_batches=0, max_time={"seconds": 1})
    trainer.fit(model(), digits(descent="stochastic", updates_per_step=16))
    assert 1 <= time.perf_counter() - start < 30 and 0 < trainer.current_epoch < 10_000


class NaNAfter(torch.nn.Module):
    """A network whose backward meets a NaN: the input times NaN in the forward."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, inputs):
        return self.linear(inputs) * torch.tensor(float("nan"))


def test_detect_anomaly_names_the_backward_that_made_a_nan_on_the_autograd_path():
    classifier = SGDClassifier(network=NaNAfter(), backend="torch")
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, detect_anomaly=True)
    with pytest.raises(RuntimeError, match="returned nan values"):
        trainer.fit(classifier, digits())


def test_detect_anomaly_is_refused_on_the_explicit_path():
    refused({"detect_anomaly": True}, ["trainer.detect_anomaly", AUTOGRAD])


@pytest.mark.parametrize("backprop", ["explicit", "autograd"])
def test_profiler_times_every_update(backprop):
    profiler = SimpleProfiler()
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0, profiler=profiler)
    trainer.fit(model(backprop=backprop), digits())
    assert len(profiler.recorded_durations["optimizer_step"]) == trainer.global_step == UPDATES


def test_trace_records_the_autograd_path_and_refuses_the_explicit_one():
    with handgrad.trace() as calls:
        quiet_trainer(max_epochs=1, limit_val_batches=0, max_steps=3).fit(model(backprop="autograd"), digits())
    assert [call.op for call in calls].count("DenseStackFunction") == 3
    with handgrad.trace():
        refused({}, ["handgrad.trace() is open", AUTOGRAD])


def test_plain_dataloader_of_pairs_trains_one_update_per_batch():
    data = DigitsDataModule(val_fraction=0.0)
    dataset = torch.utils.data.TensorDataset(data.train_inputs, data.train_targets)
    loader = torch.utils.data.DataLoader(dataset, batch_size=100, shuffle=True)
    trainer = quiet_trainer(max_epochs=3, limit_val_batches=0)
    trainer.fit(model(), train_dataloaders=loader)
    assert trainer.global_step == 3 * 15  # 1,438 samples in batches of 100


class Tiny(L.LightningDataModule):
    """A standard LightningDataModule of (inputs, targets) batches."""

    def train_dataloader(self):
        data = DigitsDataModule(val_fraction=0.0)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.train_inputs, data.train_targets),
                                           batch_size=50)


def test_plain_datamodule_of_pairs_trains_and_learns():
    classifier = model()
    losses = fit_losses(classifier, Tiny(), epochs=2)
    assert len(losses) == 2 * 29 and losses[-10:].mean() < losses[:10].mean()


@pytest.mark.parametrize("kwargs, words", [
    (dict(hidden_sizes=[30]), "hidden_sizes=[30] would be ignored"),
    (dict(activation="relu"), "activation='relu' would be ignored"),
])
def test_mlp_settings_beside_a_network_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=r"Classifier: .*would be ignored"):
        Classifier(network=torch.nn.Linear(64, 10), **kwargs)
    Classifier(network=torch.nn.Linear(64, 10), hidden_sizes=None, activation=None)  # a saved config's None


def test_a_network_with_the_wrong_output_size_is_refused_before_training():
    classifier = SGDClassifier(network=torch.nn.Linear(64, 5), backend="torch")
    trainer = quiet_trainer(max_epochs=1)
    with pytest.raises(OptionRefused, match="gives outputs of shape \\(5,\\) per sample, but the data has 10 classes"):
        trainer.fit(classifier, digits())
    assert trainer.global_step == 0


def test_train_loss_is_there_for_monitors_and_the_bar():
    """train_loss, the last block's mean loss, reaches trainer.callback_metrics (an EarlyStopping on it
    stops the run) and the progress bar's metrics, without a self.log per block."""
    recorder = UpdateLosses()
    stopper = EarlyStopping(monitor="train_loss", mode="min", stopping_threshold=1.0, check_on_train_epoch_end=True)
    trainer = quiet_trainer(max_epochs=50, limit_val_batches=0, callbacks=[recorder, stopper])
    trainer.fit(model(), digits(updates_per_step=64))  # one block per epoch
    assert 1 < trainer.current_epoch < 50 and trainer.should_stop
    last_epoch = torch.tensor(recorder.losses[-UPDATES:])
    assert float(last_epoch.mean()) < 1.0
    assert float(trainer.callback_metrics["train_loss"]) == pytest.approx(float(last_epoch.mean()), rel=1e-5)
    assert trainer.progress_bar_metrics["train_loss"] == pytest.approx(float(last_epoch.mean()), rel=1e-5)
