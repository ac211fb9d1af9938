"""Bad input, everywhere a user can type: each gets an error naming the argument and what
was expected, from handgrad or the CLI's own checks, never a deep torch error or a silent
wrong result. The CLI says it in one line, exits 2 and trains nothing.

To run:  python -m pytest tests/test_bad_input.py
"""
import os
import pickle
import warnings

import pytest
import torch
from torch import nn

import handgrad.functional as F
import handgrad.nn as hnn
from datamodules import DigitsDataModule, MNISTDataModule
from datamodules.descent import UpdateBlocks
from handgrad import swap
from handgrad.checkpoint import CheckpointError, load_checkpoint
from handgrad.lightning import Classifier
from handgrad.optim import Adam, GradientDescent
from reliability_helpers import ROOT, one_thread, run_cli  # noqa: F401 (one_thread: a fixture)
from training_helpers import quiet_trainer

pytestmark = pytest.mark.usefixtures("one_thread")

x = torch.randn(4, 5)
w = torch.randn(3, 5)
labels = torch.tensor([0, 2, 1, 4])
probs = torch.rand(4, 5)
params = [nn.Parameter(torch.zeros(2))]
mlp = nn.Sequential(nn.Linear(5, 3), nn.ReLU())
blocks = UpdateBlocks(torch.zeros(8, 1), torch.arange(8), "minibatch", 4, 1, seed=0)

# (name, call, error type, words the message must hold: the argument and what was expected)
API_CASES = [
    ("linear: features", lambda: F.linear(x, torch.randn(3, 6)), ValueError, "input has 5 features, weight expects 6"),
    ("linear: int input", lambda: F.linear(x.long(), w), TypeError, "input must be a floating-point tensor"),
    ("linear: bias shape", lambda: F.linear(x, w, torch.zeros(4)), ValueError, "bias must have shape (3,)"),
    ("linear: weight 3-d", lambda: F.linear(x, w[None]), ValueError, "weight must be 2-d"),
    ("sigmoid: list", lambda: F.sigmoid([1.0, 2.0]), TypeError, "input must be a torch.Tensor, got list"),
    ("softmax: no dim", lambda: F.softmax(x), TypeError, "dim is required"),
    ("softmax: dim 2 of 2-d", lambda: F.softmax(x, 2), IndexError, "dim must be in [-2, 1]"),
    ("log_softmax: dim str", lambda: F.log_softmax(x, "1"), TypeError, "dim must be an int"),
    ("leaky_relu: slope str", lambda: F.leaky_relu(x, "0.1"), TypeError, "negative_slope must be a real number"),
    ("relu: inplace", lambda: F.relu(x, inplace=True), ValueError, "inplace=True is not supported"),
    ("cross_entropy: class 7 of 5", lambda: F.cross_entropy(x, torch.tensor([0, 7, 1, 2])), IndexError,
     "target holds class index 7, expected indices in [0, 5)"),
    ("cross_entropy: float target shape", lambda: F.cross_entropy(x, probs[:, :3]), ValueError,
     "target must have the same shape as input"),
    ("cross_entropy: smoothing", lambda: F.cross_entropy(x, labels, label_smoothing=1.5), ValueError,
     "label_smoothing must be in [0, 1]"),
    ("cross_entropy: weight shape", lambda: F.cross_entropy(x, labels, weight=torch.ones(3)), ValueError,
     "weight must have shape (5,)"),
    ("nll_loss: reduction", lambda: F.nll_loss(x, labels, reduction="avg"), ValueError,
     "reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("nll_loss: bool target", lambda: F.nll_loss(x, labels > 1), TypeError, "target must be an integer tensor"),
    ("mse_loss: shapes", lambda: F.mse_loss(x, x[:2]), ValueError, "target must have the same shape as input (4, 5)"),
    ("mse_loss: dtypes", lambda: F.mse_loss(x, x.double()), TypeError, "target has dtype torch.float64"),
    ("binary_cross_entropy: not probabilities", lambda: F.binary_cross_entropy(x, probs), ValueError,
     "input must hold probabilities in [0, 1]"),
    ("bce_with_logits: pos_weight shape",
     lambda: F.binary_cross_entropy_with_logits(x, probs, pos_weight=torch.ones(3)), ValueError,
     "pos_weight of shape (3,) does not broadcast to input of shape (4, 5)"),
    ("dense_stack: activation", lambda: F.dense_stack(x, [w], [torch.zeros(3)], "gelu"), ValueError,
     "activation must be one of"),
    ("nn.Linear: negative size", lambda: hnn.Linear(-1, 3), ValueError, "in_features must be a non-negative int"),
    ("nn.Linear: str size", lambda: hnn.Linear(5, "3"), ValueError, "out_features must be a non-negative int"),
    ("nn.CrossEntropyLoss: reduction", lambda: hnn.CrossEntropyLoss(reduction="avg"), ValueError, "reduction must be"),
    ("nn.Softmax: dim None", lambda: hnn.Softmax()(x), TypeError, "softmax: dim is required"),
    ("GradientDescent: lr", lambda: GradientDescent(params, lr=-0.1), ValueError, "lr must be >= 0, got -0.1"),
    ("GradientDescent: nesterov", lambda: GradientDescent(params, lr=0.1, nesterov=True), ValueError,
     "nesterov=True needs momentum > 0"),
    ("Adam: beta2 = 1", lambda: Adam(params, betas=(0.9, 1.0)), ValueError, "betas[1] must be in [0, 1)"),
    ("Adam: eps str", lambda: Adam(params, eps="small"), TypeError, "eps must be a real number"),
    ("swap: not a module", lambda: swap("model"), TypeError, "model must be a torch.nn.Module, got str"),
    ("swap: pattern matches nothing", lambda: swap(mlp, exclude="encoder.*"), ValueError,
     "exclude pattern 'encoder.*' matches no module path"),
    ("swap: include holds an int", lambda: swap(mlp, include=[3]), TypeError, "include must hold module types"),
    ("digits: descent", lambda: DigitsDataModule(descent="sgd"), ValueError, "descent must be one of batch"),
    ("digits: batch_size", lambda: DigitsDataModule(batch_size=0), ValueError, "batch_size must be an int >= 1, got 0"),
    ("digits: classes", lambda: DigitsDataModule(classes=[1, 11]), ValueError, "classes holds 11"),
    ("digits: updates_per_step", lambda: DigitsDataModule(updates_per_step=1.5), ValueError,
     "updates_per_step must be an int >= 1"),
    ("digits: val_fraction", lambda: DigitsDataModule(val_fraction=1.0), ValueError, "val_fraction must be in [0, 1)"),
    ("mnist: missing root", lambda: MNISTDataModule(root="/no/such/folder"), FileNotFoundError,
     "root '/no/such/folder' holds no MNIST files"),
    ("blocks: stochastic on 2 processes", lambda: UpdateBlocks(x, labels, "stochastic", 1, 1, 0, rank=0, world_size=2),
     ValueError, "stochastic descent takes 1 sample(s) per update, fewer than the 2 processes"),
    ("blocks: foreign state", lambda: blocks.load_state_dict({"epoch": 0}), ValueError,
     "load_state_dict expects a dict with keys"),
    ("blocks: state of another run", lambda: blocks.load_state_dict(
        {"epoch": 0, "blocks_served": 1, "epochs_started": 1, "num_blocks": 9}), ValueError,
     "the saved loader had 9 blocks per epoch, this one has 2"),
    ("Classifier: nonfinite", lambda: Classifier(nonfinite="ignore"), ValueError,
     "nonfinite must be one of stop, warn; got 'ignore'"),
    ("Classifier: loss", lambda: Classifier(loss="hinge"), ValueError, "loss must be one of"),
    ("load_checkpoint: missing", lambda: load_checkpoint("/no/such.ckpt"), CheckpointError,
     "ckpt_path: no checkpoint file at /no/such.ckpt"),
]


@pytest.mark.parametrize("name, call, error, words", API_CASES, ids=[case[0] for case in API_CASES])
def test_python_api_rejects_bad_input_by_name(name, call, error, words):
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error or issubclass(type(info.value), error)
    assert words in str(info.value)


DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")


@pytest.fixture(scope="module")
def broken_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    good = folder / "good.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, good)
    data = good.read_bytes()
    (folder / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (folder / "empty.ckpt").write_bytes(b"")
    (folder / "text.ckpt").write_text("not a checkpoint\n" * 10)
    torch.save({"weights": torch.ones(3)}, folder / "no_state.ckpt")
    (folder / "raw_pickle.ckpt").write_bytes(pickle.dumps({"state_dict": {}}, protocol=4))
    return folder


# (name, arguments after 'fit --config digits.yaml', words of the one line)
CLI_CASES = [
    ("unknown key", ["--model.bogus", "1"], "unrecognized arguments: --model.bogus"),
    ("unknown trainer key", ["--trainer.max_epoch", "3"], "unrecognized arguments: --trainer.max_epoch"),
    ("int expected", ["--trainer.max_epochs", "two"], "trainer.max_epochs: expected int, got 'two'"),
    ("list expected", ["--model.hidden_sizes", "abc"], "model.hidden_sizes: expected list, got 'abc'"),
    ("bool expected", ["--model.fused", "maybe"], "model.fused: expected bool"),
    ("bad loss", ["--model.loss", "hinge"], "Classifier: loss must be one of mse, quadratic, cross_entropy, nll, bce; got 'hinge'"),
    ("zero-width layer", ["--model.hidden_sizes", "[0]"], "MLP: layer sizes must be ints >= 1"),
    ("bad nonfinite", ["--model.nonfinite", "ignore"], "nonfinite must be one of stop, warn"),
    ("bad descent", ["--data.init_args.descent", "sgd"], "DigitsDataModule: descent must be one of"),
    ("zero batch size", ["--data.init_args.batch_size", "0"], "batch_size must be an int >= 1, got 0"),
    ("negative lr", ["--optimizer.init_args.lr", "-1"], "Adam: lr must be >= 0, got -1.0"),
    ("missing MNIST root", ["--data", "datamodules.mnist.MNISTDataModule", "--data.root", "/no/such/folder"],
     "MNISTDataModule: root '/no/such/folder' holds no MNIST files"),
    ("missing config", ["--config", "/no/such.yaml"], "config: File does not exist: '/no/such.yaml'"),
    ("missing checkpoint", ["--ckpt_path", "/no/such.ckpt"], "ckpt_path: no checkpoint file at /no/such.ckpt"),
    ("truncated checkpoint", ["--ckpt_path", "{broken}/truncated.ckpt"],
     "truncated.ckpt is not a readable checkpoint (truncated or corrupt"),
    ("empty checkpoint", ["--ckpt_path", "{broken}/empty.ckpt"], "empty.ckpt is not a readable checkpoint"),
    ("text as checkpoint", ["--ckpt_path", "{broken}/text.ckpt"], "not a file written by torch.save"),
    ("checkpoint without weights", ["--ckpt_path", "{broken}/no_state.ckpt"], "is not a Lightning checkpoint"),
    ("plain pickle as checkpoint", ["--ckpt_path", "{broken}/raw_pickle.ckpt"],
     "raw_pickle.ckpt is not a readable checkpoint (not a file written by torch.save)"),
    ("stochastic descent on 2 processes",
     ["--data.init_args.descent", "stochastic", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
      "--trainer.devices", "2"], "stochastic descent takes 1 sample(s) per update, fewer than the 2 processes"),
    ("another checkpoint plugin", ["--trainer.plugins", "lightning.fabric.plugins.TorchCheckpointIO"],
     "trainer.plugins: handgrad writes and loads checkpoints with its own plugin"),
]


@pytest.mark.parametrize("name, arguments, words", CLI_CASES, ids=[case[0] for case in CLI_CASES])
def test_cli_says_what_is_wrong_in_one_line_before_training(name, arguments, words, broken_checkpoints, tmp_path):
    arguments = [argument.format(broken=broken_checkpoints) for argument in arguments]
    args = ["fit", "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path)] + arguments
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, lines, _ = run_cli(args)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("handgrad: error: "), lines
    assert words in lines[0]
    assert not os.listdir(tmp_path)  # nothing trained, nothing saved


@pytest.mark.parametrize("subcommand, name, words", [
    ("test", "last", "ckpt_path: 'last' finds no checkpoint"),
    ("validate", "last", "ckpt_path: 'last' finds no checkpoint"),
    ("test", "best", "ckpt_path: 'best' means the best checkpoint of a fit in this same command"),
    ("fit", "best", "ckpt_path: 'best' means the best checkpoint of a fit in this same command"),
])
def test_a_checkpoint_name_that_finds_nothing_is_one_line(subcommand, name, words, tmp_path):
    args = [subcommand, "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path), "--ckpt_path", name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, lines, _ = run_cli(args)
    errors = [line for line in lines if line.startswith("handgrad: error: ")]
    assert status == 2 and len(errors) == 1 and words in errors[0], lines


def test_unknown_subcommand_is_one_line():
    status, lines, _ = run_cli(["fitt"])
    assert status == 2 and len(lines) == 1
    assert "invalid choice: 'fitt' (choose from 'fit', 'validate', 'test', 'predict'); or plot" in lines[0]


def poisoned_digits(sample):
    """Digits whose training sample ``sample`` holds a NaN; returns (data, 1-based update and step that use it)."""
    data = DigitsDataModule(descent="stochastic", updates_per_step=64, val_fraction=0.0)
    data.train_inputs[sample, 3] = float("nan")
    position = int((data.train_dataloader().order(0) == sample).nonzero())
    return data, position + 1, position // 64


def test_nan_loss_stops_the_run_naming_the_update():
    data, update, step = poisoned_digits(100)
    model = Classifier(hidden_sizes=[8])
    with pytest.raises(FloatingPointError) as info:
        quiet_trainer(max_epochs=1, limit_val_batches=0).fit(model, data)
    assert f"the training loss is nan at update {update} (epoch 0, training step {step}); stopping" in str(info.value)


def test_nan_loss_can_warn_and_train_on():
    data, update, step = poisoned_digits(100)
    model = Classifier(hidden_sizes=[8], nonfinite="warn")
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0)
    with pytest.warns(RuntimeWarning, match=f"at update {update} \\(epoch 0, training step {step}\\); training on"):
        trainer.fit(model, data)
    assert trainer.global_step == len(data.train_inputs)  # the epoch ran to its end


def test_cli_divergence_is_one_line_naming_the_update(tmp_path):
    # a learning rate of 1e30 overflows the weights in the first update; the second update's loss is not finite
    args = ["fit", "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path), "--trainer.max_epochs", "1",
            "--trainer.callbacks", "[]", "--optimizer", "handgrad.optim.GradientDescent",
            "--optimizer.lr", "1e30", "--data.init_args.shift_augment", "false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, lines, _ = run_cli(args)
    assert status == 1
    errors = [line for line in lines if line.startswith("handgrad: error: ")]
    assert len(errors) == 1 and "the training loss is" in errors[0]
    assert "at update 2 (epoch 0, training step 0)" in errors[0]
