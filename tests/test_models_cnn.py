"""handgrad.models.SmallCNN: flat digits in, logits out; both backends are one network; the
digits_cnn.yaml config fits and tests from the handgrad command."""
from pathlib import Path

import pytest
import torch
from torch import nn

import handgrad.nn as hnn
from handgrad.models import SmallCNN

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "experiments" / "configs" / "digits_cnn.yaml")


def test_takes_flat_or_image_input():
    model = SmallCNN(channels=(4, 8), hidden=16).eval()
    flat = torch.rand(5, 64)
    assert model(flat).shape == (5, 10)
    torch.testing.assert_close(model(flat), model(flat.reshape(5, 1, 8, 8)))
    assert SmallCNN(num_classes=3, channels=(4,), image_size=(6, 10), in_channels=2)(torch.rand(2, 120)).shape == (2, 3)


def test_handgrad_layers_only_with_the_handgrad_backend():
    ours, theirs = SmallCNN(channels=(4, 8)), SmallCNN(channels=(4, 8), backend="torch")
    leaves = [m for m in ours.modules() if next(m.children(), None) is None]
    assert {type(m) for m in leaves} == {hnn.Conv2d, hnn.BatchNorm2d, hnn.ReLU, hnn.MaxPool2d, nn.Flatten,
                                         hnn.Linear, hnn.Dropout}
    assert all(type(m).__module__.startswith("torch") for m in theirs.modules() if m is not theirs)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_backends_share_parameters_outputs_and_gradients(batch_norm):
    networks = []
    for backend in ("handgrad", "torch"):
        torch.manual_seed(0)
        networks.append(SmallCNN(channels=(4, 8), hidden=16, dropout=0.5, batch_norm=batch_norm,
                                 backend=backend).double())
    ours, theirs = networks
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), theirs.parameters()))
    x = torch.rand(6, 64, dtype=torch.float64)
    results = []
    for network in networks:
        torch.manual_seed(1)  # the same dropout mask: both draw it with bernoulli_
        out = network(x)
        out.pow(2).sum().backward()
        results.append((out, [p.grad for p in network.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-10, atol=1e-12)
    for g, h in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(g, h, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="jax"), "backend must be one of handgrad, torch; got 'jax'"),
    (dict(channels=()), "channels at least one"),
    (dict(hidden=0), "hidden=0"),
    (dict(channels=(4, 4, 4, 4)), "4 stages halve a 8x8 image to nothing"),
])
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SmallCNN(**kwargs)


def test_wrong_input_size_names_what_was_expected():
    with pytest.raises(ValueError, match=r"input has 63 features, expected 64 \(in_channels x H x W = \(1, 8, 8\)\)"):
        SmallCNN()(torch.rand(2, 63))


def test_config_fits_and_tests_from_the_command_line(tmp_path, capsys):
    from handgrad.cli import main

    quick = ["--config", CONFIG, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1",
             "--data.init_args.updates_per_step", "4", "--trainer.enable_progress_bar", "false",
             "--trainer.default_root_dir", str(tmp_path)]
    main(["fit", *quick])
    best = tmp_path / "checkpoints" / "best.ckpt"
    assert best.exists()
    main(["test", *quick, "--ckpt_path", str(best)])
    assert "test_acc" in capsys.readouterr().out
