"""The random number generators training draws from, as plain values a checkpoint can hold.

``capture()`` returns the states of torch's CPU generator, CUDA's (when CUDA was initialised),
Python's ``random``, numpy's global generator and every ``torch.Generator`` kept as an attribute
of a given object (a datamodule); ``restore()`` puts them back. The states are tensors, ints,
floats and None, so a checkpoint holding them loads with ``torch.load(weights_only=True)``.

Dropout draws its masks from torch's CPU generator (``handgrad.functional.dropout``): a run
resumed without that state would draw other masks than the run it continues.
"""
import random

import torch


def capture(holder=None):
    """The generators' states: {"torch": ..., "cuda": [...] or None, "python": {...}, "numpy": {...} or None,
    "generators": {attribute name: state}} (the generators kept by ``holder``)."""
    version, words, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": _numpy_state(),
        "generators": {name: generator.get_state() for name, generator in generators(holder).items()},
    }
    return state


def restore(state, holder=None):
    """Put back the states ``capture`` returned; generators of ``holder`` are matched by attribute name."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss_next"]))
    if state.get("numpy") is not None:
        import numpy

        saved = state["numpy"]
        numpy.random.set_state((saved["kind"], saved["key"].numpy().astype(numpy.uint32), saved["pos"],
                                saved["has_gauss"], saved["cached_gaussian"]))
    kept = generators(holder)
    for name, generator_state in state.get("generators", {}).items():
        if name in kept:
            kept[name].set_state(generator_state)


def generators(holder):
    """{attribute name: torch.Generator} of the generators ``holder`` keeps (none for None)."""
    if holder is None:
        return {}
    return {name: value for name, value in sorted(vars(holder).items()) if isinstance(value, torch.Generator)}


def _numpy_state():
    try:
        import numpy
    except ImportError:  # numpy is optional for torch; nothing to save then
        return None
    kind, key, pos, has_gauss, cached_gaussian = numpy.random.get_state()
    return {"kind": str(kind), "key": torch.from_numpy(key.astype("int64")), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}
