"""`import handgrad` gives every public module as an attribute, as `import torch` does, and the ops
alone never import Lightning.

To run:  python -m pytest tests/test_package.py
"""
import subprocess
import sys
from pathlib import Path

import handgrad

PACKAGE = Path(handgrad.__file__).parent
PUBLIC = sorted(path.stem for path in PACKAGE.iterdir()
                if not path.name.startswith("_") and (path.suffix == ".py" or (path / "__init__.py").exists()))

# A fresh interpreter: in this one, other tests may have imported Lightning already.
WITHOUT_LIGHTNING = """
import sys
import handgrad.functional
assert "lightning" not in sys.modules, "import handgrad.functional imported lightning"
import handgrad
handgrad.models.MLP, handgrad.optim.Adam, handgrad.nn.Linear, handgrad.functional.linear
assert "lightning" not in sys.modules, "handgrad.models or handgrad.optim imported lightning"
print(" ".join(dir(handgrad)))
"""


def test_ops_models_and_optim_load_without_lightning():
    result = subprocess.run([sys.executable, "-c", WITHOUT_LIGHTNING], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split()
    assert {"functional", "nn", "optim", "models", "callbacks", "lightning", "cli", "check", "swap", "trace"} <= set(listed)
    assert set(PUBLIC) <= set(listed), f"dir(handgrad) misses {sorted(set(PUBLIC) - set(listed))}"


def test_lightning_parts_are_attributes_too():
    assert handgrad.callbacks.GradientParity.__name__ == "GradientParity"
    assert handgrad.lightning.Classifier.__name__ == "Classifier"
    assert callable(handgrad.cli.main)
    assert handgrad.__getattr__("models") is sys.modules["handgrad.models"]


def test_functions_keep_their_names():
    # handgrad.swap and handgrad.trace are the functions, handgrad.check the callable package
    assert callable(handgrad.swap) and callable(handgrad.trace) and callable(handgrad.check)
    assert handgrad.swap.__module__ == "handgrad.swap" and handgrad.trace.__module__ == "handgrad.trace"


def test_unknown_name_is_an_attribute_error():
    try:
        handgrad.modles
    except AttributeError as error:
        assert "modles" in str(error)
    else:
        raise AssertionError("handgrad.modles did not raise AttributeError")
