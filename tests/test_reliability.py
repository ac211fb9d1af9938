"""Determinism and safe checkpoints.

- The same config and seed give bit-identical metrics and weights on CPU, for each descent
  variant and both backends.
- handgrad's checkpoints hold only tensors and plain values, so they load with
  ``torch.load(weights_only=True)``; the CLI loads every checkpoint that way, so a crafted one
  carrying a pickled callable is refused in one line and the callable never runs.

To run:  python -m pytest tests/test_reliability.py
"""
import warnings

import pytest
import torch

from handgrad.checkpoint import SafeCheckpointIO
from reliability_helpers import one_thread, read_metrics, run_cli, write_config  # noqa: F401 (one_thread: a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def fit(folder, descent, backend="handgrad", seed=3, checkpoints=False):
    callbacks = [{"class_path": "reliability_helpers.MetricsLog", "init_args": {"path": str(folder / "metrics")}}]
    if checkpoints:
        callbacks.append({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                          "init_args": {"monitor": "val_acc", "mode": "max", "filename": "best", "save_last": True}})
    folder.mkdir()
    config = write_config(
        folder / "run.yaml", seed_everything=seed,
        trainer={"max_epochs": 2, "limit_train_batches": 3, "default_root_dir": str(folder), "logger": False,
                 "enable_progress_bar": False, "enable_model_summary": False, "enable_checkpointing": checkpoints,
                 "callbacks": callbacks},
        model={"hidden_sizes": [16], "activation": "tanh", "backend": backend},
        data={"class_path": "datamodules.digits.DigitsDataModule",
              "init_args": {"descent": descent, "batch_size": 16, "updates_per_step": 64}},
        optimizer={"class_path": "handgrad.optim.Adam", "init_args": {"lr": 0.003}},
    )
    status, lines, cli = run_cli(["fit", "--config", config])
    assert status == 0, lines
    return cli.model.state_dict(), read_metrics(folder / "metrics")


@pytest.mark.parametrize("backend", ["handgrad", "torch"])
@pytest.mark.parametrize("descent", ["batch", "stochastic", "minibatch"])
def test_same_config_and_seed_give_bit_identical_runs(descent, backend, tmp_path):
    weights, metrics = fit(tmp_path / "first", descent, backend)
    again_weights, again_metrics = fit(tmp_path / "second", descent, backend)
    assert metrics == again_metrics  # every update's loss and every validation metric, exactly
    assert len(metrics) == {"batch": 4, "stochastic": 8, "minibatch": 6}[descent]  # 1, 3 or 2 steps and 1 val per epoch
    for name in weights:
        assert torch.equal(weights[name], again_weights[name]), name
    other_weights, _ = fit(tmp_path / "other seed", descent, backend, seed=4)
    assert not torch.equal(weights["network.layers.0.weight"], other_weights["network.layers.0.weight"])


PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def plain_values(value, path="checkpoint"):
    """Where ``value`` holds something other than dicts, lists, tuples and PLAIN values: a list of paths."""
    if isinstance(value, dict):
        return [bad for key, item in value.items() for bad in plain_values(item, f"{path}[{key!r}]")]
    if isinstance(value, (list, tuple)):
        return [bad for index, item in enumerate(value) for bad in plain_values(item, f"{path}[{index}]")]
    return [] if isinstance(value, PLAIN) else [f"{path}: {type(value).__name__}"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CLI fit with best and last checkpoints (Adam, so the optimizer has state)."""
    folder = tmp_path_factory.mktemp("trained") / "run"
    fit(folder, "minibatch", checkpoints=True)
    return folder


def test_checkpoints_hold_only_tensors_and_plain_values(trained):
    paths = sorted((trained / "checkpoints").glob("*.ckpt"))
    assert [path.name for path in paths] == ["best.ckpt", "last.ckpt"]
    for path in paths:
        checkpoint = torch.load(path, weights_only=True)
        assert plain_values(checkpoint) == []
        assert checkpoint["optimizer_states"][0]["state"][0]["step"] > 0
        assert checkpoint["hyper_parameters"]["hidden_sizes"] == [16]


def test_cli_tests_a_checkpoint_through_the_safe_plugin(trained):
    status, lines, cli = run_cli(["test", "--config", str(trained / "run.yaml"),
                                  "--ckpt_path", str(trained / "checkpoints" / "best.ckpt")])
    assert status == 0, lines
    assert isinstance(cli.trainer.strategy.checkpoint_io, SafeCheckpointIO)
    assert 0.1 < cli.trainer.callback_metrics["test_acc"] <= 1.0


class Payload:
    """Unpickling this creates ``marker``: what a crafted checkpoint could do, harmlessly."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def crafted(trained, tmp_path):
    """A real checkpoint with a pickled callable added, and the file that callable would create."""
    checkpoint = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["extra"] = Payload(tmp_path / "marker")
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.load(path, weights_only=False)  # the payload is real: an unsafe load runs it
    assert (tmp_path / "marker").exists()
    (tmp_path / "marker").unlink()
    return path, tmp_path / "marker"


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_a_checkpoint_carrying_a_callable_is_refused_and_never_runs(subcommand, trained, crafted, monkeypatch):
    path, marker = crafted
    # torch's own switch to unsafe loads changes nothing: handgrad asks for weights_only=True explicitly
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    status, lines, _ = run_cli([subcommand, "--config", str(trained / "run.yaml"), "--ckpt_path", str(path)])
    assert status == 2
    assert lines == [f"handgrad: error: ckpt_path: {path} holds a pickled io.open, not only tensors and "
                     f"plain values; refused without running it (handgrad loads checkpoints with "
                     f"torch.load(weights_only=True))"]
    assert not marker.exists()


def test_a_crafted_last_checkpoint_is_refused_when_resuming(trained, crafted, tmp_path, monkeypatch):
    path, marker = crafted
    # 'last' is resolved by Lightning itself, which then loads through handgrad's checkpoint plugin
    (tmp_path / "checkpoints").mkdir()
    path.rename(tmp_path / "checkpoints" / "last.ckpt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, lines, _ = run_cli(["fit", "--config", str(trained / "run.yaml"), "--trainer.default_root_dir",
                                    str(tmp_path), "--ckpt_path", "last"])
    assert status == 2
    errors = [line for line in lines if line.startswith("handgrad: error:")]
    assert len(errors) == 1 and "last.ckpt holds a pickled io.open" in errors[0]
    assert not marker.exists()
