"""The block ``handgrad fit`` prints before training: what will run, in the words of the config.

Network (layers and sizes), cost, optimizer with every argument, descent variant with samples
per update and updates per epoch, the backprop path, and the run directory. When ``--optimizer``
changed the optimizer's class on the command line while an argument of the config's optimizer
was carried over (jsonargparse keeps the init_args the new class also takes: Adam's lr for
GradientDescent), the block says so.
"""
import inspect
import math
from pathlib import Path

import yaml
from torch import nn

from handgrad.models import MLP

WIDTH = 100


def carried_over_optimizer_args(config, args):
    """{argument: value} of the optimizer that came from a config file's other optimizer class.

    ``config``: the parsed subcommand config; ``args``: the command line (a list of strings)."""
    optimizer = config.get("optimizer")
    if optimizer is None or not isinstance(args, (list, tuple)):
        return {}
    final_class, final_args = optimizer.get("class_path"), dict(optimizer.get("init_args") or {})
    typed = {arg.split("=", 1)[0].replace(".init_args.", ".") for arg in args if str(arg).startswith("--optimizer.")}
    carried = {}
    for path in _config_files(args):
        section = _optimizer_section(path)
        if not section or section.get("class_path") in (None, final_class):
            continue
        for name, value in (section.get("init_args") or {}).items():
            if name in final_args and final_args[name] == value and f"--optimizer.{name}" not in typed:
                carried[name] = (value, section["class_path"], str(path))
    return carried


def _config_files(args):
    files = []
    for index, arg in enumerate(args):
        if arg in ("--config", "-c") and index + 1 < len(args):
            files.append(args[index + 1])
        elif str(arg).startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return files


def _optimizer_section(path):
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("fit", "validate", "test", "predict"):  # a config may nest under the subcommand
        if isinstance(data.get(key), dict) and "optimizer" in data[key]:
            data = data[key]
    section = data.get("optimizer")
    if isinstance(section, str):
        return {"class_path": section}
    return section if isinstance(section, dict) else None


def describe(model, datamodule, trainer, config, carried_over):
    """The block, as a string of a few lines."""
    rows = [
        ("network", describe_network(model.network)),
        ("cost", f"{model.loss_name} ({model.backend}'s)"),
        ("backprop", describe_backprop(model)),
        ("optimizer", describe_optimizer(config.get("optimizer"))),
    ]
    for name, (value, old_class, path) in carried_over.items():
        rows.append(("", f"{name}={value!r} is carried over from {old_class} in {path}, since --optimizer changed "
                         f"the class; set --optimizer.{name} to choose it"))
    rows += [
        ("descent", describe_descent(datamodule)),
        ("precision", f"{trainer.precision}, up to {trainer.max_epochs} epoch{'s' if trainer.max_epochs != 1 else ''}"
                      + (f" or {trainer.max_steps} updates" if trainer.max_steps and trainer.max_steps > 0 else "")),
        ("run dir", str(Path(trainer.default_root_dir).resolve())),
    ]
    lines = ["handgrad fit:"]
    for label, text in rows:
        lines += _wrap(label, text)
    return "\n".join(lines)


def _wrap(label, text):
    import textwrap

    first, rest = f"  {label:<10} ", " " * 13
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest) or [first.rstrip()]


def describe_network(network):
    if isinstance(network, MLP):
        sizes = [network.layers[0].in_features] + [layer.out_features for layer in network.layers]
        return (f"MLP {' -> '.join(map(str, sizes))}, {network.activation} between layers, "
                f"{network.backend} layers{' (one fused dense stack)' if network.uses_dense_stack else ''}")
    layers = [_layer(module) for module in network.modules() if not list(module.children())]
    count = sum(param.numel() for param in network.parameters())
    return f"{type(network).__name__}, {count:,} parameters: {', '.join(layers)}"


def _layer(module):
    name = type(module).__name__
    if isinstance(module, nn.Linear) or hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{name} {module.in_features}->{module.out_features}"
    if hasattr(module, "in_channels") and hasattr(module, "out_channels"):
        return f"{name} {module.in_channels}->{module.out_channels}"
    return name


def describe_backprop(model):
    if model.uses_explicit_backprop:
        return "explicit: handgrad.backprop, no autograd engine (--model.backprop autograd runs it through autograd)"
    return "autograd, through manual_backward (the network's own backward: handgrad's Functions or torch's)"


def describe_optimizer(section):
    """class_path(every argument=value): the config's init_args over the class's defaults."""
    if not section:
        return "the Classifier's default: handgrad.optim.GradientDescent(lr=0.1)"
    class_path = section["class_path"]
    given = dict(section.get("init_args") or {})
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(__import__(module, fromlist=[name]), name)
        parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, params
        values = {p.name: given.get(p.name, p.default) for p in parameters
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    except (ImportError, AttributeError, TypeError, ValueError):
        values = given
    shown = ", ".join(f"{key}={value!r}" for key, value in values.items() if value is not inspect.Parameter.empty)
    return f"{class_path}({shown})"


def describe_descent(datamodule):
    if datamodule is None:
        return "the model's own dataloaders"
    inputs = getattr(datamodule, "train_inputs", None)
    descent = getattr(datamodule, "descent", None)
    if descent is None or inputs is None:
        return f"{type(datamodule).__name__}: one update per training batch"
    from datamodules.descent import samples_per_update

    size = samples_per_update(descent, datamodule.batch_size, len(inputs))
    per_epoch = math.ceil(len(inputs) / size)
    return (f"{descent}: {size} sample{'s' if size != 1 else ''} per update, {per_epoch} update"
            f"{'s' if per_epoch != 1 else ''} per epoch ({len(inputs)} training samples), "
            f"{datamodule.updates_per_step} updates per training step")
