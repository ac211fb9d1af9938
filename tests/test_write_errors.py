"""A checkpoint, log or config that cannot be written stops ``fit`` with one line: the path, the
operating system's reason and the checkpoint that is intact; exit status 1; the previous
checkpoint still loads and no temporary file is left.

A full disk is simulated (``os.fsync`` raising ENOSPC, as a full disk does when the bytes reach
it); a read-only folder is real when the tests do not run as root, simulated otherwise (root
writes into a read-only folder); a run folder that is a file is real.

To run:  python -m pytest tests/test_write_errors.py
"""
import errno
import os
import tempfile
from pathlib import Path

import pytest

from handgrad import checkpoint as checkpoint_module
from handgrad.checkpoint import load_checkpoint
from reliability_helpers import ROOT, one_thread, run_cli  # noqa: F401 (one_thread: a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")
SHORT = ["--trainer.enable_progress_bar", "false", "--data.init_args.shift_augment", "false",
         "--model.hidden_sizes", "[8]"]


@pytest.fixture
def trained(tmp_path):
    """A run folder after one epoch, with its last.ckpt."""
    status, lines, _ = run_cli(["fit", "--config", DIGITS, "--trainer.default_root_dir", str(tmp_path),
                                "--trainer.max_epochs", "1", *SHORT])
    assert status == 0, lines
    last = tmp_path / "checkpoints" / "last.ckpt"
    return tmp_path, last, last.read_bytes()


def resume(folder):
    return run_cli(["fit", "--config", DIGITS, "--trainer.default_root_dir", str(folder), "--trainer.max_epochs", "2",
                    *SHORT, "--ckpt_path", "last"])


def check_one_line(status, lines, words):
    errors = [line for line in lines if line.startswith("handgrad: error:")]
    assert status == 1, lines
    assert len(errors) == 1 and not any("Traceback" in line for line in lines), lines
    for word in words:
        assert word in errors[0], errors[0]


def check_intact(folder, last, before):
    assert last.read_bytes() == before
    assert load_checkpoint(last)["epoch"] == 0
    assert not [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


def test_a_full_disk_is_one_line_and_the_previous_checkpoint_is_intact(trained, monkeypatch):
    folder, last, before = trained

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.os, "fsync", disk_full)
    status, lines, _ = resume(folder)
    monkeypatch.undo()
    # the first file written on resume is the metrics log, trimmed to the checkpoint's update
    check_one_line(status, lines, [f"could not write {folder}/metrics.csv: No space left on device (ENOSPC)",
                                   f"the checkpoint {last} (epoch 0, update 40) is intact"])
    check_intact(folder, last, before)


def test_a_read_only_checkpoint_folder_is_one_line(trained, monkeypatch):
    folder, last, before = trained
    if os.geteuid() == 0:  # root writes anywhere: make file creation in the folder fail as it would
        real_mkstemp = tempfile.mkstemp

        def read_only(*args, **kwargs):
            if Path(kwargs.get("dir")) == last.parent:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), kwargs.get("dir"))
            return real_mkstemp(*args, **kwargs)

        monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", read_only)
    else:
        os.chmod(last.parent, 0o555)
    try:
        status, lines, _ = resume(folder)
    finally:
        os.chmod(last.parent, 0o755)
        monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", tempfile.mkstemp)
    check_one_line(status, lines, [f"could not write {last.parent}/best.ckpt: Permission denied (EACCES)",
                                   f"the checkpoint {last} (epoch 0, update 40) is intact"])
    check_intact(folder, last, before)


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path):
    file = tmp_path / "runs"
    file.write_text("not a folder\n")
    status, lines, _ = run_cli(["fit", "--config", DIGITS, "--trainer.default_root_dir", str(file),
                                "--trainer.max_epochs", "1", *SHORT])
    check_one_line(status, lines, [f"could not write {file}: File exists (EEXIST)",
                                   "no checkpoint of this run was written"])
    assert [path.name for path in tmp_path.iterdir()] == ["runs"] and file.read_text() == "not a folder\n"
