"""Each entry of handgrad/_compat.py still does what handgrad relies on in this torch release.

A failure here means a release renamed or changed a private name: update _compat.py (and the
tested versions in its comment), not the code that calls it.
"""
import lightning as L
import torch

from handgrad import _compat
from training_helpers import quiet_trainer


def test_functorch_transforms_active_sees_vmap_and_grad():
    assert hasattr(torch._C, "_are_functorch_transforms_active"), (
        f"torch {torch.__version__} has no torch._C._are_functorch_transforms_active: "
        "update handgrad._compat.functorch_transforms_active"
    )
    seen = []

    def record(x):
        seen.append(_compat.functorch_transforms_active())
        return x.sum()

    record(torch.ones(2))
    torch.func.vmap(record)(torch.ones(3, 2))
    torch.func.grad(record)(torch.ones(2))
    assert seen == [False, True, True], (
        f"torch {torch.__version__}: functorch_transforms_active gave {seen} outside / in vmap / in grad, "
        "expected [False, True, True]: update handgrad._compat"
    )


def test_optimizer_step_hooks_sees_every_kind_of_step_hook():
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    found = [_compat.optimizer_step_hooks(optimizer)]
    for register in (optimizer.register_step_pre_hook, optimizer.register_step_post_hook,
                     register_optimizer_step_pre_hook, register_optimizer_step_post_hook):
        handle = register(lambda *args: None)
        found.append(_compat.optimizer_step_hooks(optimizer))
        handle.remove()
    found.append(_compat.optimizer_step_hooks(optimizer))
    assert found == [False, True, True, True, True, False], (
        f"torch {torch.__version__}: optimizer_step_hooks gave {found} for no hook, each kind of hook, and "
        "none again; expected [False, True, True, True, True, False]: update handgrad._compat"
    )


def private_torch_names(source):
    """(line, name) of every use of a ``_``-prefixed name reached from a torch import."""
    import ast

    tree = ast.parse(source)
    torch_names = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            torch_names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "torch"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            torch_names |= {a.asname or a.name for a in node.names}
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")]
            found += [(node.lineno, node.module) for part in node.module.split(".") if part.startswith("_")][:1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in torch_names:
                found.append((node.lineno, node.attr))
    return found


def test_no_private_torch_name_outside_compat():
    import pathlib

    root = pathlib.Path(__file__).parents[1]
    paths = [p for folder in ("handgrad", "datamodules") for p in sorted((root / folder).rglob("*.py"))]
    found = {str(p.relative_to(root)): private_torch_names(p.read_text()) for p in paths if p.name != "_compat.py"}
    assert {path: names for path, names in found.items() if names} == {}


def test_the_private_name_scan_catches_one():
    source = ("import torch\nimport torch.nn.functional as TF\nfrom torch.optim import optimizer as o\n"
              "torch._foreach_add_(a, b)\nTF._x()\no._global_optimizer_pre_hooks\nfrom torch.utils._pytree import y\n")
    assert sorted(name for _, name in private_torch_names(source)) == [
        "_foreach_add_", "_global_optimizer_pre_hooks", "_x", "torch.utils._pytree"]


# Lightning entries

TESTED = "tested on lightning 2.6.6 and torch 2.14.1; installed: lightning {}, torch {}".format(
    L.__version__, torch.__version__)


class CountsTwice(L.LightningModule):
    """Manual optimization: one update through LightningOptimizer.step, one counted by _compat."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.steps_seen = []

    def training_step(self, batch, batch_idx):
        self.optimizers().step()
        _compat.update_counter(self.trainer)()
        self.steps_seen.append(self.global_step)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(3, 1)), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_update_counter_advances_global_step_as_lightning_optimizer_step_does():
    model = CountsTwice()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model)
    assert model.steps_seen == [2, 4, 6] and trainer.global_step == 6, (
        f"_compat.update_counter no longer counts an update in trainer.global_step ({TESTED}): "
        f"global_step after each training step {model.steps_seen}, expected [2, 4, 6]")


def test_update_counter_stops_at_max_steps_as_lightning_does():
    model = CountsTwice()
    trainer = quiet_trainer(max_epochs=5, max_steps=4)
    trainer.fit(model)
    assert trainer.global_step == 4, f"max_steps no longer reads the counted updates ({TESTED})"
