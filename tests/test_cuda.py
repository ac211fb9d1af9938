"""On a CUDA GPU: every op, a swapped torchvision model and the classifier's training give
what torch gives on the same GPU. Skipped where there is no GPU (CI has none).

To run on a GPU machine:  python -m pytest tests/test_cuda.py
"""
import copy

import lightning as L
import pytest
import torch
import torchvision

import handgrad
import handgrad.functional as HF
from catalogue import CASES
from catalogue_conv import CASES as CONV_CASES
from datamodules import DigitsDataModule
from helpers import forward_and_grads, fresh
from strategies import DEFAULT
from training_helpers import SGDClassifier, UpdateLosses, quiet_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# float32 on the GPU: cuDNN and cuBLAS pick their own summation orders (TF32 is switched off below)
TOLERANCE = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}
# a whole network sums over batch and positions in other orders than torch's kernels, and its
# batch norms amplify those last-digit differences: compared relative to the largest gradient
NETWORK = 1e-6


@pytest.fixture(autouse=True)
def no_tf32():
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


# dropout with 0 < p < 1 draws its mask from the GPU's generator, which neither the catalogue's
# seeding nor torch's fused CUDA dropout share: tested on its own below
SEEDED_ON_CPU_ONLY = {"dropout[p=0.3]", "dropout[p=0.5]"}
GPU_CASES = [case for case in CASES + CONV_CASES if case.name not in SEEDED_ON_CPU_ONLY]


def on_gpu(args):
    return tuple(a.detach().to("cuda").requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a
                 for a in args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", GPU_CASES, ids=repr)
def test_op_on_gpu_matches_torch_on_gpu(case, dtype):
    args = on_gpu(case.make(DEFAULT, dtype))
    out, grads = forward_and_grads(case.handgrad, fresh(args))
    expected_out, expected_grads = forward_and_grads(case.torch, fresh(args))
    assert out.device.type == "cuda" and all(g.device.type == "cuda" for g in grads)
    torch.testing.assert_close(out, expected_out, **TOLERANCE[dtype])
    for grad, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("case", GPU_CASES, ids=repr)
def test_gradcheck_and_gradgradcheck_on_gpu(case):
    args = on_gpu(case.make(DEFAULT, torch.float64))
    assert torch.autograd.gradcheck(case.handgrad, args)
    assert torch.autograd.gradgradcheck(case.handgrad, args)


def test_dropout_on_gpu_keeps_one_mask_for_forward_and_backward():
    assert SEEDED_ON_CPU_ONLY <= {case.name for case in CONV_CASES}
    x = torch.randn(1000, 100, device="cuda", requires_grad=True)
    y = HF.dropout(x, 0.3)
    y.backward(torch.ones_like(y))
    kept = y != 0
    assert 0.68 < kept.float().mean().item() < 0.72
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    torch.testing.assert_close(x.grad, kept.to(x.dtype) / 0.7)


def test_swapped_resnet18_matches_torch_on_gpu():
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(num_classes=10).cuda().double()
    model = copy.deepcopy(reference)
    handgrad.swap(model)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, device="cuda")
    outputs = []
    for net in (model, reference):
        out = net(x)
        out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device="cuda").reshape(out.shape))
        outputs.append((out.detach(), {name: p.grad for name, p in net.named_parameters()}))
    (out, grads), (expected_out, expected_grads) = outputs
    torch.testing.assert_close(out, expected_out, rtol=NETWORK, atol=NETWORK * expected_out.abs().max().item())
    for name, grad in grads.items():
        expected = expected_grads[name]
        torch.testing.assert_close(grad, expected, rtol=NETWORK, atol=NETWORK * expected.abs().max().item(),
                                   msg=lambda m: f"{name}: {m}")


class WhereItRan(L.Callback):
    """The devices of the parameters and of the block at every training step (Lightning moves
    the model back to the CPU when fit ends)."""

    def __init__(self):
        self.devices = set()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.devices |= {p.device.type for p in module.parameters()} | {batch["inputs"].device.type}


@pytest.mark.parametrize("descent", ["batch", "minibatch"])
def test_training_on_gpu_matches_the_torch_backend(descent):
    losses = {}
    for backend in ("handgrad", "torch"):
        L.seed_everything(7, verbose=False)
        data = DigitsDataModule(descent=descent, batch_size=10, val_fraction=0.0, seed=7)
        model = SGDClassifier(hidden_sizes=[30], activation="sigmoid", backend=backend)
        recorder, where = UpdateLosses(), WhereItRan()
        quiet_trainer(max_epochs=1, callbacks=[recorder, where], limit_val_batches=0, accelerator="gpu").fit(model, data)
        assert where.devices == {"cuda"}
        losses[backend] = torch.tensor(recorder.losses, dtype=torch.float64)
    assert len(losses["handgrad"]) == len(losses["torch"]) > 0
    assert (losses["handgrad"] - losses["torch"]).abs().max() <= 1e-5
