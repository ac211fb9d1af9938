"""The ``handgrad`` command: Lightning's CLI for the classifier (fit, validate, test, predict).

To run:  handgrad fit --config experiments/configs/digits.yaml

Nothing the user typed ends in a traceback: a mistake ends the command before training
starts, with one line on stderr and exit status 2 (the parser's own errors, values only the
classes or Lightning can judge, a config file or checkpoint that is missing, broken or unsafe,
an option the Classifier cannot honour, a model too large for memory); a run that diverges (NaN
or infinite loss, with ``model.nonfinite='stop'``) ends with one line and exit status 1; so does
a file that cannot be written (no space, no permission), naming it and the checkpoint still
intact. Ctrl-C during ``fit`` saves the state after the update in progress and exits 130,
printing the command that resumes it (``handgrad.interrupt``). ``HANDGRAD_DEBUG=1`` prints the
full traceback behind any one-line error. The table of exit statuses is in docs/training.md;
docs/reliability.md tells what is kept when a run is stopped.
"""
import os
import re
import sys
import traceback
import warnings

from lightning import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from datamodules import DigitsDataModule, MNISTDataModule  # noqa: F401 (--data DigitsDataModule by short name)
from handgrad import cli_help, interrupt, resume, run_plan, watch
from handgrad.checkpoint import CheckpointError, SafeCheckpointIO, is_write_error, load_checkpoint, write_error_line
from handgrad.config_file import ConfigFileError, check_args
from handgrad.console import quiet
from handgrad.learner_ops import LearnerOpsError
from handgrad.lightning import Classifier
from handgrad.trainer_options import OptionRefused, check_trainer_options

quiet()

# Lightning warns that a mid-epoch checkpoint of a manually optimized model holds the weights
# after the step's updates. That is the state a resume needs: the optimizer state and the
# loader position it is saved with are from after those updates too.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
# Classifier.configure_optimizers is the default for use without the CLI; --optimizer replacing
# it is the CLI working as meant, not something to warn about on every run.
warnings.filterwarnings("ignore", message=r"`Classifier.configure_optimizers` will be overridden")

# ckpt_path values that Lightning resolves itself (to a checkpoint its callbacks wrote)
NAMED_CHECKPOINTS = ("last", "best", "hpc")
# ckpt_path that asks test, validate or predict for the untrained model, on purpose
UNTRAINED = "untrained"
DEBUG = "HANDGRAD_DEBUG"
# Trainer options that take a count (int) or a share (float). jsonargparse reads `2` as 2.0, which
# Lightning would refuse as a share above 1; a whole number above 1 can only mean a count.
BATCH_COUNTS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                "overfit_batches")


def fail(message, status=2):
    """One line on stderr, then exit: a user's mistake is not a traceback (HANDGRAD_DEBUG=1 shows it)."""
    if os.environ.get(DEBUG) and sys.exc_info()[0] is not None:
        traceback.print_exc()
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
    line = prefix + body + (f", got {given.group(1)!r}" if given else "")
    if body.startswith("expected list") and given:
        line += f" (a list is written in brackets: [{given.group(1).strip('[]')}])"
    return line


class HandgradArgumentParser(LightningArgumentParser):
    """Lightning's parser, whose errors are one line instead of the usage text and the message,
    which takes option names whole (argparse would read ``--trainer.max_epoch`` as
    ``--trainer.max_epochs``, so a typo could quietly set another option), and whose help is short
    (``handgrad.cli_help``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message, ex=None):
        if not self.exit_on_error:  # jsonargparse parsing a part of the config: it catches this
            super().error(message, ex)
        if "invalid choice" in message and "'predict'" in message:  # a mistyped subcommand
            message += "; or plot, to draw runs' curves (handgrad plot RUN_DIR ...)"
        fail(message)

    is_main = False  # the top-level parser (handgrad --help), set by HandgradCLI.setup_parser

    def format_help(self):
        words = (self.prog or "").split()
        subcommand = words[-1] if len(words) > 1 and words[-1] in LightningCLI.subcommands() else None
        if not self.is_main and subcommand is None:  # e.g. --data.help: jsonargparse's own
            return super().format_help()
        text = cli_help.shorten(super().format_help(), subcommand)
        if subcommand is not None and "\n  --data " in text:
            sections = text.split("\n\n")
            where = next(index for index, section in enumerate(sections) if "\n  --data " in section) + 1
            sections.insert(where, cli_help.datamodule_section(DigitsDataModule))
            text = "\n\n".join(sections)
        return text


class HandgradCLI(LightningCLI):
    """LightningCLI with the datamodule's sizes linked into the model, one-line errors for
    everything the user typed, handgrad's checkpoint plugin on every Trainer, and a block at
    the start of fit saying what will run."""

    def __init__(self, *args, checkpoint_io=None, **kwargs):
        kwargs.setdefault("parser_class", HandgradArgumentParser)
        self.checkpoint_io = checkpoint_io or SafeCheckpointIO()
        parser_kwargs = kwargs.setdefault("parser_kwargs", {})
        parser_kwargs.setdefault("prog", "handgrad")
        self.carried_over = {}  # optimizer arguments kept from another optimizer class (run_plan)
        command_line = sys.argv[1:] if kwargs.get("args") is None else kwargs["args"]
        named = command_line[0] if isinstance(command_line, (list, tuple)) and command_line else None
        self.named_subcommand = named if named in LightningCLI.subcommands() else None
        super().__init__(*args, **kwargs)

    def subcommands(self):
        """Lightning's subcommands; only the one the command line starts with, when it names one: the
        parser of each subcommand holds every Trainer, model and data option, and building the other
        three would only slow the command's start."""
        every = LightningCLI.subcommands()
        return {self.named_subcommand: every[self.named_subcommand]} if self.named_subcommand else every

    def setup_parser(self, *args, **kwargs):
        super().setup_parser(*args, **kwargs)
        self.parser.is_main = True

    def add_core_arguments_to_parser(self, parser):
        # the classifier's and the datamodule's options first, then the Trainer's (the help follows this order)
        parser.add_lightning_class_args(self.model_class, "model", subclass_mode=self.subclass_mode_model)
        parser.add_lightning_class_args(self.datamodule_class or LightningDataModule, "data",
                                        subclass_mode=self.subclass_mode_data, required=False)
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({"trainer." + key: value for key, value in self.trainer_defaults.items()
                             if key != "callbacks"})

    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.num_features", "model.in_features", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        watch.add_overwrite_option(parser)

    def parse_arguments(self, parser, args):
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        if config.get("data") is None:
            fail("data: no datamodule given; pass --config experiments/configs/digits.yaml, or --data DigitsDataModule "
                 "(or MNISTDataModule, or a LightningDataModule's class path)")
        config["ckpt_path"] = self.checked_ckpt_path(subcommand, config.get("ckpt_path"))
        self.carried_over = run_plan.carried_over_optimizer_args(config, sys.argv[1:] if args is None else args)
        if subcommand != "fit":  # a checkpoint evaluated from another run's folder: it keeps no checkpoints
            warnings.filterwarnings("ignore", message=r"The dirpath has changed from")

    def checked_ckpt_path(self, subcommand, ckpt_path):
        """The ckpt_path to run with. Lightning reads the checkpoint's hyperparameters right after parsing:
        check the file first, so that a missing, broken or unsafe one is one line, not a torch traceback.
        Evaluating without a checkpoint would evaluate an untrained network: only on request."""
        if ckpt_path == UNTRAINED:
            if subcommand == "fit":
                fail(f"ckpt_path: {UNTRAINED!r} is for validate, test and predict; fit starts from an untrained "
                     f"network without --ckpt_path")
            return None
        if ckpt_path is None and subcommand != "fit":
            fail(f"ckpt_path: {subcommand} needs the checkpoint of a trained network (e.g. --ckpt_path "
                 f"runs/digits/checkpoints/best.ckpt, or last); --ckpt_path {UNTRAINED} {subcommand}s the untrained one")
        if ckpt_path and str(ckpt_path) not in NAMED_CHECKPOINTS and not str(ckpt_path).startswith("registry"):
            try:
                load_checkpoint(ckpt_path, map_location="cpu")
            except CheckpointError as error:
                fail(error)
        return ckpt_path

    def instantiate_classes(self):
        # a bad value that only the classes (or Lightning's Trainer) can judge is a config error: one line, exit 2
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, IndexError, FileNotFoundError) as error:
            fail(error)
        except MisconfigurationException as error:  # Lightning's Trainer judging its arguments
            fail(f"trainer: {error}")
        except (MemoryError, RuntimeError) as error:
            if not isinstance(error, MemoryError) and "memory" not in str(error).lower():
                raise
            fail(f"not enough memory to build the model and data as configured ({type(error).__name__}: "
                 f"{str(error).splitlines()[0] if str(error) else 'out of memory'}); use smaller sizes "
                 f"(e.g. --model.hidden_sizes)")

    def instantiate_trainer(self, **kwargs):
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        # metrics.csv (and TensorBoard) by default, the training loss of every update, an honest bar
        kwargs.update(watch.trainer_additions(self.subcommand, config))
        plugins = config["trainer"].get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        for plugin in plugins:
            if isinstance(plugin, CheckpointIO):
                raise ValueError(
                    f"trainer.plugins: handgrad writes and loads checkpoints with its own plugin "
                    f"(handgrad.checkpoint.SafeCheckpointIO); remove {type(plugin).__name__}"
                )
        counts = {key: int(value) for key, value in config["trainer"].items()
                  if key in BATCH_COUNTS and isinstance(value, float) and value > 1 and value.is_integer()}
        # last.ckpt always the latest state; random state and config in every checkpoint; Ctrl-C keeps the work
        kwargs["callbacks"] = resume.trainer_callbacks(config["trainer"], kwargs.get("callbacks"), self.config)
        return super().instantiate_trainer(plugins=plugins + [self.checkpoint_io], **counts, **kwargs)

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
        anomaly = bool(self.config_init[self.subcommand]["trainer"].get("detect_anomaly"))
        try:
            check_trainer_options(self.trainer, self.model, anomaly=anomaly)
        except OptionRefused as error:
            fail(error)
        try:
            self.watch = watch.FitWatch(self.trainer, self.config["fit"])
        except ValueError as error:
            fail(error)
        if rank_zero_only.rank == 0:
            print(run_plan.describe(self.model, self.datamodule, self.trainer, self.config_init[self.subcommand],
                                    self.carried_over), flush=True)

    def after_fit(self):
        self.watch.finish()

    # LightningCLI runs a subcommand through a method of that name when the CLI has one
    def fit(self, **kwargs):
        self.run_trainer("fit", kwargs)

    def validate(self, **kwargs):
        self.run_trainer("validate", kwargs)

    def test(self, **kwargs):
        self.run_trainer("test", kwargs)

    def predict(self, **kwargs):
        self.run_trainer("predict", kwargs)

    def run_trainer(self, subcommand, kwargs):
        """The Trainer's method, with what goes wrong in it said in one line.

        Lightning looks up ckpt_path 'last' and 'best' only now. A name that finds nothing is the
        user's mistake, except 'last' for fit: that starts afresh (Lightning warns), so that one
        command both starts a run and resumes it."""
        with warnings.catch_warnings():
            if subcommand != "fit":
                warnings.filterwarnings("error", message=r'.*ckpt_path="last"\) is set, but there is no last')
            try:
                getattr(self.trainer, subcommand)(**kwargs)
            except UserWarning as warning:
                if "no last checkpoint" not in str(warning):
                    raise
                fail(f"ckpt_path: 'last' finds no checkpoint: none with save_last=True was saved under "
                     f"{self.trainer.default_root_dir}; give the checkpoint's file")
            except OptionRefused as error:
                fail(error)
            except ValueError as error:
                if 'ckpt_path="best")` is set' not in str(error):
                    raise
                fail("ckpt_path: 'best' means the best checkpoint of a fit in this same command, and there is "
                     "none (it needs a ModelCheckpoint with a monitor); give the checkpoint's file, "
                     "e.g. <run folder>/checkpoints/best.ckpt")
            except MisconfigurationException as error:  # Lightning's own checks of the configuration
                fail(f"trainer: {error}")


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
            # without a config: seed 0 (Lightning would pick 0 too, with a warning), and no model summary
            # (the fit-start block already shows the network)
            seed_everything_default=0,
            trainer_defaults={"enable_model_summary": False},
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
