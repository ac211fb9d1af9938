"""What a checkpoint needs beyond Lightning's own state for a resume to continue the run exactly.

``ResumeState`` (a callback the handgrad CLI adds to every Trainer) writes into each checkpoint
the random number generators' states (``handgrad.rng``) and the run's config (the sections that
decide what is trained and how: model, data, optimizer, lr_scheduler, seed_everything). When a
fit resumes from a checkpoint it:

- puts the generators back just before the first resumed update (after the sanity check, which
  must not shift them), so dropout draws the masks the interrupted run would have drawn;
- says in one line when the checkpoint holds no generator states (written before handgrad saved
  them): the run resumes, but random draws differ from the interrupted run's;
- says in one line which config values differ from the checkpoint's (another learning rate,
  another descent): the resumed run is then not the interrupted one.

Under DDP the states of process 0 are saved and every process restores them.
"""
import sys

import lightning as L

from handgrad import interrupt, rng
from handgrad.checkpoint import LastCheckpoint

SECTIONS = ("seed_everything", "model", "data", "optimizer", "lr_scheduler")


def note(message):
    print(f"handgrad: note: {message}", file=sys.stderr, flush=True)


def plain_config(config):
    """The SECTIONS of a parsed config (a jsonargparse Namespace or a dict) as {dotted key: plain value}."""
    if hasattr(config, "as_dict"):
        config = config.as_dict()
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, (list, tuple)) and all(isinstance(item, (str, int, float, bool, type(None)))
                                                      for item in value):
            flat[prefix] = list(value)
        elif isinstance(value, (str, int, float, bool, type(None))):
            flat[prefix] = value
        else:
            flat[prefix] = str(value)

    for section in SECTIONS:
        if section in config:
            walk(section, config[section])
    return flat


def differences(saved, current):
    """'key saved -> current' for each key whose value differs."""
    keys = sorted(set(saved) | set(current))
    return [f"{key} {saved.get(key, '(unset)')!r} -> {current.get(key, '(unset)')!r}"
            for key in keys if saved.get(key) != current.get(key)]


class ResumeState(L.Callback):
    """Saves the random state and the run's config in every checkpoint; restores and compares them on resume.

    Args:
        config: the run's parsed config (the CLI passes its own); None records none.
    """

    def __init__(self, config=None):
        self.config = plain_config(config) if config is not None else None
        self._states = None

    @property
    def state_key(self):
        return type(self).__qualname__

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["rng_states"] = rng.capture(trainer.datamodule)
        if self.config is not None:
            checkpoint["handgrad_config"] = self.config

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        if trainer.state.fn != "fit":
            return
        path = trainer.ckpt_path
        self._states = checkpoint.get("rng_states")
        if trainer.is_global_zero and self._states is None:
            note(f"{path} holds no random state (written before handgrad saved it): the run resumes, but "
                 f"random draws (dropout masks) differ from the interrupted run's")
        saved = checkpoint.get("handgrad_config")
        if trainer.is_global_zero and saved is not None and self.config is not None:
            changed = differences(saved, self.config)
            if changed:
                note(f"the config differs from the one {path} was trained with, so this run does not continue "
                     f"it exactly: {'; '.join(changed)}")

    def on_train_start(self, trainer, pl_module):
        if self._states is not None:
            rng.restore(self._states, trainer.datamodule)
            self._states = None


def trainer_callbacks(trainer_config, callbacks, run_config):
    """The callbacks of a CLI Trainer: ``callbacks`` (None: the config's ``trainer.callbacks``) plus
    ResumeState, handgrad.interrupt.Interrupt and, when checkpointing is on and the config names
    none, a LastCheckpoint (last.ckpt always the latest state). ``run_config``: the parsed config."""
    if callbacks is None:
        callbacks = trainer_config.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    subcommand = run_config.get("subcommand")
    callbacks += [ResumeState(run_config[subcommand] if subcommand else run_config), interrupt.Interrupt()]
    if trainer_config.get("enable_checkpointing") is not False and not any(
            isinstance(callback, LastCheckpoint) for callback in callbacks):
        callbacks.append(LastCheckpoint())
    return callbacks
