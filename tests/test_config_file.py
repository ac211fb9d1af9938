"""Every config is read safely, and no value typed on the command line ends in a traceback.

- A config file that is empty, not text, not YAML, not a mapping, or has a section of the wrong
  shape gets one line naming the file and the problem, exit status 2, and nothing is written.
- A property test (Hypothesis, bounded) draws wrong types and out-of-range values for the options
  of the classifier, the datamodule and the optimizers, runs the CLI in this process with
  ``--trainer.max_steps 2`` and small sizes, and checks that it exits 0, 1 (a run that diverged)
  or 2 (a refused value), never with a traceback, and that a refused value writes nothing.

To run:  python -m pytest tests/test_config_file.py
"""
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability_helpers import ROOT, one_thread, run_cli  # noqa: F401 (one_thread: a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")

# (name, file content, words of the one line after "config: <file>")
FILES = [
    ("empty", b"", "is empty; expected a mapping"),
    ("only a comment", b"# nothing here\n", "is empty; expected a mapping"),
    ("binary", bytes(range(256)), "is not a text file"),
    ("latin-1 text", "trainer: {max_epochs: 2}  # caf\xe9\n".encode("latin-1"), "is not UTF-8 text (byte 31 is 0xe9)"),
    ("not YAML", b"trainer: {max_epochs: 1\n", "is not valid YAML at line 2, column 1"),
    ("a list", b"- trainer\n- model\n", "holds a list, expected a mapping of sections"),
    ("a number", b"42\n", "holds a int, expected a mapping of sections"),
    ("trainer not a mapping", b"trainer: 5\n", "trainer holds 5, expected a mapping of options"),
    ("model a list", b"model: [1, 2]\n", "model holds [1, 2], expected a class path or a mapping"),
    ("init_args not a mapping", b"data:\n  class_path: datamodules.digits.DigitsDataModule\n  init_args: 7\n",
     "data.init_args holds 7, expected a mapping of options"),
    ("seed a string", b"seed_everything: soon\n", "seed_everything holds 'soon', expected an int"),
]


@pytest.mark.parametrize("name, content, words", FILES, ids=[case[0] for case in FILES])
def test_a_bad_config_file_is_one_line(name, content, words, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    run = tmp_path / "run"
    status, lines, _ = run_cli(["fit", "--config", str(path), "--trainer.default_root_dir", str(run)])
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith(f"handgrad: error: config: {path}") and words in lines[0], lines
    assert not run.exists()


def test_a_folder_as_config_is_one_line(tmp_path):
    status, lines, _ = run_cli(["fit", "--config", str(tmp_path)])
    assert status == 2 and lines == [f"handgrad: error: config: {tmp_path} is a folder, not a YAML file"]


# ---- the property test -----------------------------------------------------------------------------

JUNK = st.sampled_from(["abc", "", "null", "[]", "{}", "[1, 'a']", "nan", "inf", "-inf", "-1", "0", "1e400", "true",
                        "{a: 1}", "'", "[[1]]", "3.5", "-0.0", "1_000", "0x10"])
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
INTS = st.integers(-3, 3000).map(str)
HUGE_INTS = st.integers(-(10 ** 30), 10 ** 30).map(str)
FLOATS = st.floats(-2.0, 12.0).map(repr) | st.sampled_from(["nan", "inf", "-inf", "1e-300", "-1e-9"])


def int_list(low, high, size):
    return st.lists(st.integers(low, high), max_size=size).map(str)


BOOLS = st.sampled_from(["true", "false", "yes", "maybe", "2", "null", "1"])
# option -> values: wrong types and out-of-range numbers, with some valid ones among them
OPTIONS = {
    "--model.hidden_sizes": int_list(-3, 40, 3) | JUNK,
    "--model.activation": st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "gelu", "RELU"]) | JUNK,
    "--model.loss": st.sampled_from(["cross_entropy", "nll", "mse", "hinge"]) | JUNK,
    "--model.backend": st.sampled_from(["handgrad", "torch", "jax"]) | JUNK,
    "--model.fused": BOOLS | JUNK,
    "--model.swap": BOOLS | JUNK,
    "--model.chunk_size": st.integers(-3, 50).map(str) | JUNK,
    "--model.nonfinite": st.sampled_from(["stop", "warn", "ignore"]) | JUNK,
    "--data.init_args.descent": st.sampled_from(["batch", "stochastic", "minibatch", "sgd"]) | JUNK,
    "--data.init_args.batch_size": INTS | JUNK,
    "--data.init_args.classes": int_list(-2, 12, 4) | JUNK,
    "--data.init_args.val_fraction": FLOATS | JUNK,
    "--data.init_args.test_fraction": FLOATS | JUNK,
    "--data.init_args.seed": st.sampled_from(["-1", str(2 ** 32), str(10 ** 14)]) | HUGE_INTS | JUNK,
    "--data.init_args.shift_augment": BOOLS | JUNK,
    "--data.init_args.updates_per_step": st.integers(-3, 100).map(str) | JUNK,
    "--seed_everything": HUGE_INTS | JUNK,
    "--optimizer.init_args.lr": FLOATS | JUNK,
    "--optimizer.init_args.betas": st.lists(st.floats(-1, 2), max_size=3).map(str) | JUNK,
    "--optimizer.init_args.eps": FLOATS | JUNK,
    "--optimizer.init_args.weight_decay": FLOATS | JUNK,
}
GRADIENT_DESCENT = {  # the other handgrad optimizer, swapped in with --optimizer
    "--optimizer.lr": FLOATS | JUNK,
    "--optimizer.momentum": FLOATS | JUNK,
    "--optimizer.dampening": FLOATS | JUNK,
    "--optimizer.nesterov": BOOLS | JUNK,
    "--optimizer.weight_decay": FLOATS | JUNK,
}
BASE = ["--trainer.max_steps", "2", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
        "--data.init_args.shift_augment", "false", "--model.hidden_sizes", "[8]", "--data.init_args.updates_per_step", "2"]


def option_values(options):
    return st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=2, unique=True).flatmap(
        lambda names: st.tuples(*[st.tuples(st.just(name), options[name] | PRINTABLE) for name in names]))


ARGUMENTS = option_values(OPTIONS) | option_values(GRADIENT_DESCENT).map(
    lambda pairs: (("--optimizer", "handgrad.optim.GradientDescent"), ("--optimizer.lr", "0.1"), *pairs))


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pairs=ARGUMENTS)
def test_no_value_ends_in_a_traceback(pairs):
    folder = Path(tempfile.mkdtemp(prefix="handgrad-fuzz-"))
    run = folder / "run"
    args = ["fit", "--config", DIGITS, "--trainer.default_root_dir", str(run), *BASE]
    for name, value in pairs:
        args += [name, value]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status, lines, _ = run_cli(args)  # an exception here is a traceback: the test fails with it
        assert status in (0, 1, 2), (status, lines)
        assert not any("Traceback" in line for line in lines), lines
        if status != 0:
            errors = [line for line in lines if line.startswith("handgrad: error: ")]
            assert len(errors) == 1, lines
        if status == 2:  # refused before any work: nothing written
            assert not run.exists() or not any(run.iterdir()), sorted(run.rglob("*"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
