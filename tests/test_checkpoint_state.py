"""What a checkpoint holds for a resume: the latest state in last.ckpt, the random state, the config.

- For every config in experiments/configs/ (shortened, with a learning rate of 0 so that the
  monitored metric stops improving after the first epoch), last.ckpt holds the run's final
  update and best.ckpt stays the best (the first epoch).
- The random number generators' states round-trip through ``handgrad.rng`` as plain values,
  including a ``torch.Generator`` a datamodule keeps.
- A checkpoint written before checkpoints held the random state resumes with a one-line note;
  a resume whose config differs from the checkpoint's says which values in one line.

To run:  python -m pytest tests/test_checkpoint_state.py
"""
import random

import numpy
import pytest
import torch

from handgrad import rng
from handgrad.checkpoint import load_checkpoint
from reliability_helpers import ROOT, one_thread, run_cli  # noqa: F401 (one_thread: a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = sorted((ROOT / "experiments" / "configs").glob("*.yaml"))
SHORT = ["--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", "--optimizer.init_args.lr", "0"]
SMALL_CNN = ["--model.network.init_args.channels", "[4]", "--model.network.init_args.hidden", "16"]


def short_fit(config, folder, *extra):
    args = ["fit", "--config", str(config), "--trainer.default_root_dir", str(folder), *SHORT, *extra]
    if config.stem == "digits_yours":  # the learner's pieces: the reference ops file, whose optimizer has its own lr
        args = [arg for arg in args if arg not in ("--optimizer.init_args.lr", "0")]
        args += ["--model.ops", str(ROOT / "experiments" / "exercises" / "reference_ops.py"), "--model.ops_check", "false"]
    if "shift_augment: true" in config.read_text():
        args += ["--data.init_args.shift_augment", "false"]
    if config.stem == "digits_cnn":
        args += SMALL_CNN
    status, lines, cli = run_cli(args)
    assert status == 0, lines
    return cli, lines


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """config -> (run folder, final global step), each config run once for this module."""
    done = {}

    def run(config):
        if config not in done:
            folder = tmp_path_factory.mktemp(config.stem)
            cli, _ = short_fit(config, folder)
            done[config] = folder, cli.trainer.global_step
        return done[config]
    return run


@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_last_checkpoint_holds_the_final_update_whatever_the_metric_did(config, runs):
    folder, final_step = runs(config)
    last = load_checkpoint(folder / "checkpoints" / "last.ckpt")
    assert final_step > 0 and last["global_step"] == final_step
    assert last["epoch"] == 1
    best = folder / "checkpoints" / "best.ckpt"
    if best.exists() and config.stem != "digits_yours":  # a monitored metric at lr 0: it never improved after epoch 0
        assert load_checkpoint(best)["epoch"] == 0


class KeepsAGenerator:
    def __init__(self):
        self.shuffle = torch.Generator().manual_seed(7)
        self.size = 3


def draws(holder):
    return (torch.rand(3).tolist(), random.random(), numpy.random.rand(), torch.rand(2, generator=holder.shuffle).tolist())


def test_random_states_round_trip_as_plain_values(tmp_path):
    holder = KeepsAGenerator()
    state = rng.capture(holder)
    assert set(state["generators"]) == {"shuffle"}
    torch.save(state, tmp_path / "state.pt")
    first = draws(holder)
    rng.restore(torch.load(tmp_path / "state.pt", weights_only=True), holder)
    assert draws(holder) == first
    assert draws(holder) != first  # the generators moved on: the equality above is not a fixed point


@pytest.fixture
def digits_run(runs):
    return runs(ROOT / "experiments" / "configs" / "digits.yaml")[0]


def test_a_checkpoint_without_random_state_resumes_with_a_note(digits_run, tmp_path):
    checkpoint = load_checkpoint(digits_run / "checkpoints" / "last.ckpt")
    del checkpoint["rng_states"], checkpoint["handgrad_config"]  # as written before this change
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    args = ["fit", "--config", str(ROOT / "experiments" / "configs" / "digits.yaml"), "--trainer.default_root_dir",
            str(tmp_path), *SHORT, "--trainer.max_epochs", "3", "--ckpt_path", str(old)]
    status, lines, cli = run_cli(args)
    assert status == 0, lines
    notes = [line for line in lines if line.startswith("handgrad: note:")]
    assert notes == [f"handgrad: note: {old} holds no random state (written before handgrad saved it): the run "
                     f"resumes, but random draws (dropout masks) differ from the interrupted run's"]
    assert cli.trainer.current_epoch == 3 and load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_a_resume_with_another_config_says_so_in_one_line(digits_run, tmp_path):
    args = ["fit", "--config", str(ROOT / "experiments" / "configs" / "digits.yaml"), "--trainer.default_root_dir",
            str(tmp_path), *SHORT, "--trainer.max_epochs", "3", "--optimizer.init_args.lr", "0.01",
            "--data.init_args.descent", "batch", "--ckpt_path", str(digits_run / "checkpoints" / "last.ckpt")]
    status, lines, _ = run_cli(args)
    notes = [line for line in lines if line.startswith("handgrad: note:")]
    assert len(notes) == 1, lines
    assert "the config differs from the one" in notes[0]
    assert "data.init_args.descent 'minibatch' -> 'batch'" in notes[0]
    assert "optimizer.init_args.lr 0.0 -> 0.01" in notes[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_random_state_round_trips():
    torch.rand(1, device="cuda")  # CUDA initialised: its generators are part of the state
    state = rng.capture()
    assert state["cuda"] is not None and len(state["cuda"]) == torch.cuda.device_count()
    first = torch.rand(4, device="cuda").tolist()
    rng.restore(state)
    assert torch.rand(4, device="cuda").tolist() == first
