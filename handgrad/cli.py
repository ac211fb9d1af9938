"""The ``handgrad`` command: Lightning's CLI for the classifier (fit, validate, test, predict).

To run:  handgrad fit --config experiments/configs/digits.yaml

A mistake the user typed ends the command before training starts, with one line on stderr
and exit status 2: the parser's own errors (unknown keys, wrong types), values only the
classes can judge, a checkpoint that is missing, unreadable or holds more than data, and
a descent that cannot be shared by the processes asked for. A run that diverges (NaN or
infinite loss, with ``model.nonfinite='stop'``) ends with one line and exit status 1; so does a
file that cannot be written (no space, no permission), naming it and the checkpoint still intact.
Ctrl-C during ``fit`` saves the state after the update in progress and exits 130, printing the
command that resumes it (``handgrad.interrupt``). See docs/reliability.md.
"""
import re
import sys
import warnings

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.strategies import DDPStrategy

from handgrad import interrupt, resume, watch
from handgrad.checkpoint import CheckpointError, SafeCheckpointIO, is_write_error, load_checkpoint, write_error_line
from handgrad.config_file import ConfigFileError, check_args
from handgrad.console import quiet
from handgrad.learner_ops import LearnerOpsError
from handgrad.lightning import Classifier

quiet()

# Lightning warns that a mid-epoch checkpoint of a manually optimized model holds the weights
# after the step's updates. That is the state a resume needs: the optimizer state and the
# loader position it is saved with are from after those updates too.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
# Classifier.configure_optimizers is the default for use without the CLI; --optimizer replacing
# it is the CLI working as meant, not something to warn about on every run.
warnings.filterwarnings("ignore", message=r"`Classifier.configure_optimizers` will be overridden")

# ckpt_path values that Lightning resolves itself (to a checkpoint its callbacks wrote)
_NAMED_CHECKPOINTS = ("last", "best", "hpc")


def fail(message, status=2):
    """One line on stderr, then exit: a user's mistake is not a traceback."""
    print(f"handgrad: error: {one_line(message)}", file=sys.stderr)
    sys.exit(status)


def one_line(message):
    """jsonargparse's message in one line, with the key first and the one useful alternative.

    A value that fits none of an ``Optional[...]`` or union type gets one error per alternative
    ("Expected a <class 'NoneType'>" among them); only the first that is not about None is kept.
    """
    text = " ".join(str(message).split())
    key = re.match(r'Parser key "([^"]+)": (.*)', text)
    prefix, body = (f"{key.group(1)}: ", key.group(2)) if key else ("", text)
    given = re.search(r"(?: Given value type: <class '\w+'> Given value|\. Got value): (.*)$", body)
    if given:
        body = body[:given.start()]
    if " Errors: - " in body:
        errors = body.split(" Errors: - ", 1)[1].split(" - ")
        body = next((error for error in errors if "NoneType" not in error), errors[0])
    body = re.sub(r"Expected a <class '(\w+)'>", r"expected \1", body)
    return prefix + body + (f", got {given.group(1)!r}" if given else "")


class HandgradArgumentParser(LightningArgumentParser):
    """Lightning's parser, whose errors are one line instead of the usage text and the message,
    and which takes option names whole: argparse would read ``--trainer.max_epoch`` as
    ``--trainer.max_epochs``, so a typo could quietly set another option."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message, ex=None):
        if not self.exit_on_error:  # jsonargparse parsing a part of the config: it catches this
            super().error(message, ex)
        fail(message)


class HandgradCLI(LightningCLI):
    """LightningCLI with the datamodule's sizes linked into the model, one-line errors for
    everything the user typed, and handgrad's checkpoint plugin on every Trainer."""

    def __init__(self, *args, checkpoint_io=None, **kwargs):
        kwargs.setdefault("parser_class", HandgradArgumentParser)
        self.checkpoint_io = checkpoint_io or SafeCheckpointIO()
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.num_features", "model.in_features", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        watch.add_overwrite_option(parser)

    def instantiate_trainer(self, **kwargs):
        # metrics.csv (and TensorBoard) by default, the training loss of every update, an honest bar
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        kwargs.update(watch.trainer_additions(self.subcommand, config))
        # last.ckpt always the latest state; random state and config in every checkpoint; Ctrl-C keeps the work
        kwargs["callbacks"] = resume.trainer_callbacks(config["trainer"], kwargs.get("callbacks"), self.config)
        return super().instantiate_trainer(**kwargs)

    def _parse_ckpt_path(self):
        # Lightning reads the checkpoint's hyperparameters here, before anything is built: check the
        # file first, so that a missing, broken or unsafe one is one line, not a torch traceback
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and str(ckpt_path) not in _NAMED_CHECKPOINTS and not str(ckpt_path).startswith("registry"):
            try:
                load_checkpoint(ckpt_path, map_location="cpu")
            except CheckpointError as error:
                fail(error)
        super()._parse_ckpt_path()

    def instantiate_classes(self):
        # a bad value that only the classes can judge is a config error: one line, exit 2
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, IndexError, FileNotFoundError) as error:
            fail(error)

    def _instantiate_trainer(self, config, callbacks):
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        for plugin in plugins:
            if isinstance(plugin, CheckpointIO):
                raise ValueError(
                    f"trainer.plugins: handgrad writes and loads checkpoints with its own plugin "
                    f"(handgrad.checkpoint.SafeCheckpointIO); remove {type(plugin).__name__}"
                )
        config["plugins"] = plugins + [self.checkpoint_io]
        return super()._instantiate_trainer(config, callbacks)

    def _run_subcommand(self, subcommand):
        # Lightning looks up ckpt_path 'last' and 'best' only now. A name that finds nothing is the
        # user's mistake, said in one line, except 'last' for fit: that starts afresh (Lightning
        # warns), so that one command both starts a run and resumes it. Testing an untrained
        # model because no checkpoint was found would be a silent wrong result.
        with warnings.catch_warnings():
            if subcommand != "fit":
                warnings.filterwarnings("error", message=r'.*ckpt_path="last"\) is set, but there is no last')
            try:
                super()._run_subcommand(subcommand)
            except UserWarning as warning:
                if "no last checkpoint" not in str(warning):
                    raise
                fail(f"ckpt_path: 'last' finds no checkpoint: none with save_last=True was saved under "
                     f"{self.trainer.default_root_dir}; give the checkpoint's file")
            except ValueError as error:
                if 'ckpt_path="best")` is set' not in str(error):
                    raise
                fail("ckpt_path: 'best' means the best checkpoint of a fit in this same command, and there is "
                     "none (it needs a ModelCheckpoint with a monitor); give the checkpoint's file, "
                     "e.g. <run folder>/checkpoints/best.ckpt")

    def before_fit(self):
        # checked here, once the trainer knows its processes, rather than in each process later
        world_size = self.trainer.world_size
        if world_size > 1 and not isinstance(self.trainer.strategy, DDPStrategy):
            fail(f"trainer.strategy: several processes need a DDP strategy (each process holds the whole "
                 f"model and the Classifier averages its gradients), got {type(self.trainer.strategy).__name__}")
        if self.datamodule is not None and hasattr(self.datamodule, "check_data_parallel"):
            try:
                self.datamodule.check_data_parallel(world_size)
            except ValueError as error:
                fail(error)
        try:
            self.watch = watch.FitWatch(self.trainer, self.config["fit"])
        except ValueError as error:
            fail(error)

    def after_fit(self):
        self.watch.finish()


def main(args=None):
    """The ``handgrad`` command: runs it on ``args`` (default: the command line). Returns None,
    so that the console script's ``sys.exit(main())`` exits 0 when the run succeeds.
    ``handgrad plot RUN_DIR ...`` draws runs' curves (handgrad.plot)."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["plot"]:
        from handgrad.plot import main as plot

        return plot(argv[1:])
    run(args)


def run(args=None):
    """Runs the command on ``args`` (default: the command line); returns the HandgradCLI."""
    quiet()  # again here: a caller (a test, a notebook) may have reset the warning filters since import
    arguments = list(sys.argv[1:] if args is None else args)
    checkpoint_io = SafeCheckpointIO()
    try:
        check_args(arguments)
        return HandgradCLI(
            Classifier,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            args=args,
            checkpoint_io=checkpoint_io,
        )
    except (CheckpointError, ConfigFileError) as error:  # a broken named checkpoint ('last'); a bad config file
        fail(error)
    except FloatingPointError as error:  # the run diverged: not a usage mistake, so status 1
        fail(error, status=1)
    except LearnerOpsError as error:  # a learner's piece failed its checks before the first update: a line each
        for line in error.lines:
            print(f"handgrad: error: {line}", file=sys.stderr)
        sys.exit(error.status)
    except OSError as error:  # a checkpoint, log or figure that cannot be written
        if not is_write_error(error):
            raise
        fail(write_error_line(error, checkpoint_io), status=1)
    except (interrupt.Interrupted, interrupt.StoppedAtOnce, KeyboardInterrupt) as error:  # Ctrl-C: status 130
        interrupt.exit_after(error, arguments, checkpoint_io.newest)


if __name__ == "__main__":
    main()
