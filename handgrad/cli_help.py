"""The ``handgrad`` command's help: what handgrad is, then the classifier's and the datamodule's
options before the Trainer's, each Trainer option in one sentence.

LightningCLI's help lists every option's full docstring and, for ``--model.network``, every
``nn.Module`` subclass it can import (hundreds of lines). The text is shortened after jsonargparse
formats it (``format_help``), so parsing is untouched.

To see it:  handgrad --help;  handgrad fit --help
"""
import re
import textwrap

DESCRIPTION = """\
handgrad: backpropagation written by hand, inside real PyTorch. This command trains and
evaluates handgrad's classifier with Lightning (fit, validate, test, predict); every
option can also sit in a YAML file given with --config.

examples:
  handgrad fit --config experiments/configs/digits.yaml
  handgrad fit --config experiments/configs/digits.yaml --data.descent stochastic --trainer.max_epochs 5
  handgrad test --config experiments/configs/digits.yaml --ckpt_path runs/digits/checkpoints/best.ckpt

Each subcommand's options: handgrad fit --help. A datamodule's options: handgrad fit --data.help DigitsDataModule.
Trainer options, the descent switch and exit statuses: docs/training.md."""

# one line per subcommand, instead of the first lines of the Trainer methods' docstrings (cut mid-sentence)
SUBCOMMANDS = """    fit                 Train the classifier, validating after every epoch.
    validate            One pass over the validation set, with a checkpoint's weights.
    test                One pass over the test set, with a checkpoint's weights.
    predict             The classifier's predictions for the data, with a checkpoint's weights.
    plot                Draw runs' training curves, overlaid: handgrad plot RUN_DIR ... [--out FILE]."""

# a "known subclasses" list longer than this is replaced by one line (model.network lists every nn.Module)
MAX_SUBCLASSES = 20
ENTRY_INDENT = 24  # where argparse starts an option's description


def shorten(text, subcommand):
    """The help of ``handgrad <subcommand>`` as LightningCLI formats it, made short."""
    text = _short_usage(text, subcommand)
    if subcommand is None:
        text = text.replace("Lightning Trainer command line tool\n\n", "")
        return re.sub(r"\n    fit .*?(?=\n\n|\n?\Z)", "\n" + SUBCOMMANDS, text, count=1, flags=re.S)
    text = re.sub(r", known\s+subclasses:\s+([^)]*)\)", _subclass_list, text)
    sections = text.split("\n\n")
    trainer = [index for index, section in enumerate(sections) if index > 0 and "\n  --trainer." in section]
    first_sentences = [_first_sentences(section) if index in trainer else section
                       for index, section in enumerate(sections)]
    if trainer:  # the classifier's, the datamodule's and the optimizer's options first
        trainer_sections = [first_sentences[index] for index in trainer]
        others = [section for index, section in enumerate(first_sentences) if index not in trainer]
        first_sentences = others[:-1] + trainer_sections + others[-1:]  # the subcommand's own arguments last
    return "\n\n".join(first_sentences)


def _short_usage(text, subcommand):
    """One usage line instead of one line per option (every option is listed below anyway)."""
    if not text.startswith("usage:"):
        return text
    usage, _, rest = text.partition("\n\n")
    if subcommand is None:
        return "usage: handgrad [-h] [-c CONFIG] {fit,validate,test,predict,plot} ...\n\n" + DESCRIPTION + "\n\n" + rest
    return (f"usage: handgrad {subcommand} [-h] [-c CONFIG] [--print_config] [--model.* ...] [--data ...] "
            f"[--optimizer ...] [--trainer.* ...] [--ckpt_path ...]\n\n" + rest)


def _subclass_list(match):
    names = [name.strip() for name in re.sub(r"\s+", " ", match.group(1)).split(",")]
    if len(names) <= MAX_SUBCLASSES:
        return match.group(0)
    return ", any subclass, by class path: e.g. torchvision.ops.MLP)"


def _first_sentences(section):
    """Each option of a section with the first sentence of its description and its (type, default)."""
    lines = section.split("\n")
    entries, current = [], None
    for line in lines:
        if line.startswith("  -") or current is None:
            current = [line]
            entries.append(current)
        else:
            current.append(line)
    return "\n".join(_short_entry(entry) for entry in entries)


def _short_entry(entry):
    head, body = [], []
    for line in entry:
        (body if body or line.startswith(" " * ENTRY_INDENT) else head).append(line)
    if not body:
        return "\n".join(entry)
    description = " ".join(line.strip() for line in body)
    details = re.search(r"\((?:type|default): [^()]*(?:\([^()]*\)[^()]*)*\)$", description)
    tail = details.group(0) if details else ""
    prose = description[:details.start()] if details else description
    sentence = re.match(r"(.+?[.:;])(?:\s|$)", prose)
    prose = sentence.group(1) if sentence else prose
    wrapped = textwrap.wrap(f"{prose.strip()} {tail}".strip(), width=100 - ENTRY_INDENT)
    return "\n".join(head + [" " * ENTRY_INDENT + line for line in wrapped])


def datamodule_section(datamodule_class):
    """The options of ``datamodule_class`` (the descent switch among them), as ``--data.help`` shows them."""
    from lightning.pytorch.cli import LightningArgumentParser

    parser = LightningArgumentParser(prog="handgrad")
    parser.add_class_arguments(datamodule_class, "data", sub_configs=True)
    sections = parser.format_help().split("\n\n")
    options = next(section for section in sections if "\n  --data.descent" in section)
    body = options.split("\n", 1)[1]
    title = (f"{datamodule_class.__name__} options (with --data {datamodule_class.__name__}, "
             f"as experiments/configs/*.yaml set it):")
    return title + "\n" + _first_sentences(body)
