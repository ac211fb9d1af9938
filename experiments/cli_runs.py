"""Train the Classifier exactly as ``handgrad fit`` does, from Python: HandgradCLI parses the
same command-line arguments and builds the same model, datamodule and Trainer; the
experiments add their recording callbacks and call ``trainer.fit`` themselves.

Used by the experiment scripts (e.g. ``python -m experiments.descent_variants``).
"""
import logging
import warnings

from handgrad.cli import HandgradCLI
from handgrad.lightning import Classifier

# what every experiment run leaves out of `handgrad fit`: progress bars, checkpoints, logs
QUIET = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
             accelerator="cpu", devices=1)


def quiet_lightning():
    """Silence Lightning's banners and the warnings that say nothing about the experiment."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*will be overridden by.*configure_optimizers.*")


class ExperimentCLI(HandgradCLI):
    """HandgradCLI whose parser is built once per process: an experiment builds many runs, and the
    parser (every option of the model, the data, the optimizer and the Trainer) is the same each time."""

    built_parser = None

    def setup_parser(self, *args, **kwargs):
        if ExperimentCLI.built_parser is None:
            super().setup_parser(*args, **kwargs)
            ExperimentCLI.built_parser = self.parser
        self.parser = ExperimentCLI.built_parser


def build(args, callbacks=()):
    """(trainer, model, datamodule) for ``handgrad fit <args>``, with ``callbacks`` added to the trainer's.

    ``args`` are CLI arguments, e.g. ``["--model.activation=sigmoid", "--optimizer.lr=0.5"]``;
    a config's own callbacks (checkpoints) are dropped, since experiment runs keep no files.
    """
    quiet_lightning()
    cli = ExperimentCLI(
        Classifier, subclass_mode_data=True, run=False, save_config_callback=None,
        args=[*args, "--trainer.callbacks=[]"], trainer_defaults=QUIET,
    )
    cli.trainer.callbacks.extend(callbacks)
    return cli.trainer, cli.model, cli.datamodule


def digits_args(seed, epochs, hidden, activation, loss, descent, lr, batch_size=32, optimizer="GradientDescent"):
    """CLI arguments for the digits with a handgrad MLP and one of handgrad's optimizers."""
    return [
        f"--seed_everything={seed}", f"--trainer.max_epochs={epochs}", "--trainer.limit_val_batches=0",
        f"--model.hidden_sizes={list(hidden)}", f"--model.activation={activation}", f"--model.loss={loss}",
        "--data=datamodules.digits.DigitsDataModule", f"--data.descent={descent}",
        f"--data.batch_size={batch_size}", f"--data.seed={seed}",
        f"--optimizer=handgrad.optim.{optimizer}", f"--optimizer.lr={lr}",
    ]
