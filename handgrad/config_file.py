"""Config files read safely: one line naming the file and what is wrong, before the CLI parses it.

jsonargparse reads ``--config FILE`` itself; a file that is not text ends in a UnicodeDecodeError
traceback, an empty one in "Unexpected config:", and a section of the wrong shape (``trainer: 5``)
can be dropped without a word and fail later, deep in Lightning. ``check_args`` looks at every
``--config`` file among the command's arguments first: readable, UTF-8 text, YAML, a mapping,
and each section of the shape the CLI expects. A value that names no file is left to jsonargparse
(it says "File does not exist", or reads the value as inline YAML).
"""
from pathlib import Path

import yaml

# section -> what it may hold (beyond null): the CLI's subcommand config
MAPPING, CLASS = "a mapping of options", "a class path or a mapping with class_path and init_args"
SECTIONS = {"trainer": MAPPING, "model": CLASS, "data": CLASS, "optimizer": CLASS, "lr_scheduler": CLASS}
SUBCOMMANDS = ("fit", "validate", "test", "predict")


class ConfigFileError(ValueError):
    """A config file the CLI cannot use, with one line naming it and the problem."""


def config_paths(args):
    """The values of ``--config`` in ``args`` (``--config X`` and ``--config=X``)."""
    paths = []
    for index, arg in enumerate(args):
        if arg == "--config" and index + 1 < len(args):
            paths.append(args[index + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def check_args(args):
    """Check every ``--config`` file in ``args`` that exists; raise ConfigFileError for the first bad one."""
    for value in config_paths(args):
        path = Path(value)
        if path.exists():
            check_file(path)


def check_file(path):
    """Raise ConfigFileError unless ``path`` holds a YAML mapping of the CLI's sections in the right shapes."""
    where = f"config: {path}"
    if path.is_dir():
        raise ConfigFileError(f"{where} is a folder, not a YAML file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigFileError(f"{where} cannot be read: {error.strerror}") from None
    if b"\0" in raw:
        raise ConfigFileError(f"{where} is not a text file (it holds NUL bytes); expected a YAML file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{where} is not UTF-8 text (byte {error.start} is {raw[error.start]:#04x}); "
                              f"expected a YAML file") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigFileError(f"{where} is not valid YAML{at}: {problem}") from None
    if config is None:
        raise ConfigFileError(f"{where} is empty; expected a mapping such as 'trainer: {{max_epochs: 5}}'")
    if not isinstance(config, dict):
        raise ConfigFileError(f"{where} holds a {type(config).__name__}, expected a mapping of sections "
                              f"({', '.join(SECTIONS)}, ...)")
    sections = config
    subcommands = [key for key in config if key in SUBCOMMANDS]
    for key in subcommands:  # a config written for the whole command: {fit: {trainer: ...}}
        if not isinstance(config[key], (dict, type(None))):
            raise ConfigFileError(f"{where}: {key} holds a {type(config[key]).__name__}, expected a mapping")
    for part in [config[key] or {} for key in subcommands] or [sections]:
        check_sections(where, part)


def check_sections(where, config):
    for key, expected in SECTIONS.items():
        if key not in config or config[key] is None:
            continue
        value = config[key]
        if expected is MAPPING and not isinstance(value, dict):
            raise ConfigFileError(f"{where}: {key} holds {value!r}, expected {expected}")
        if expected is CLASS:
            if isinstance(value, str):
                continue
            if not isinstance(value, dict):
                raise ConfigFileError(f"{where}: {key} holds {value!r}, expected {expected}")
            init_args = value.get("init_args")
            if init_args is not None and not isinstance(init_args, dict):
                raise ConfigFileError(f"{where}: {key}.init_args holds {init_args!r}, expected a mapping of options")
            class_path = value.get("class_path")
            if class_path is not None and not isinstance(class_path, str):
                raise ConfigFileError(f"{where}: {key}.class_path holds {class_path!r}, expected a class path")
    seed = config.get("seed_everything")
    if seed is not None and not isinstance(seed, (bool, int)):
        raise ConfigFileError(f"{where}: seed_everything holds {seed!r}, expected an int or true/false")
    callbacks = config.get("trainer", {}).get("callbacks") if isinstance(config.get("trainer"), dict) else None
    if callbacks is not None and not isinstance(callbacks, (list, dict, str)):
        raise ConfigFileError(f"{where}: trainer.callbacks holds {callbacks!r}, expected a list of callbacks")
