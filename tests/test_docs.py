"""The docs run as written: every command and Python block of README.md and the pages it links.

What is collected, from README.md and each Markdown page it links (in the order of the links):
- every fenced ``python`` block: it runs as written, imports included, in a fresh process;
  or, marked ``<!-- excerpt: path/to/file.py -->`` on the line before it, it is a piece of
  that file: each of its lines other than ``...`` must occur in the file;
- every command line of a fenced ``bash``/``sh``/``shell``/``console`` block that starts with
  ``handgrad``, ``python``, ``.venv/bin/`` or ``make`` (``make train``/``make test`` are the
  quickstart's and are not run here; another make target is refused, since it would reinstall
  the environment). A trailing ``# exits N`` says the command is expected to exit with N;
- a fenced block marked ``<!-- output -->``: what the block or command just before it prints,
  compared with what it prints now, every number with a decimal point or exponent masked (they
  depend on the machine), spaces collapsed, and a line starting with ``...`` standing for any
  lines.
Commands in the prose (inline code) cite where a figure came from (benchmarks of minutes);
they are not run, but the files they name must exist.

How they run: in order, in a temporary copy of the repository (its git files, so that
nothing committed is overwritten and a ``test`` reads what the ``fit`` before it wrote), in
this environment (sys.executable's venv first on PATH, PYTHONPATH the copy). Each runs in
a child of tests/docs_runner.py, a process that imported torch, Lightning and handgrad once.
The test changes a command in two ways only: ``handgrad fit`` is shortened to one epoch of one
training step (``--trainer.max_epochs 1 --trainer.limit_train_batches 1``: it still validates,
saves its checkpoints and draws its curves), and an experiment script gets its
``--quick`` switch. Commands that need what this machine
cannot give are listed in SKIPPED with the reason.

To run:  python -m pytest tests/test_docs.py
"""
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docs_pages import (ROOT, SHELLS, SHORT_FIT, all_blocks, blocks, command_lines, excerpt_errors, matches_output, normalise,
                        pages, plan, plan_command, slug)

VENV_BIN = Path(sys.executable).parent

# Commands, as written in the docs, that this test does not run, and why.
SKIPPED = {
    "python experiments/bench_ops.py --device cuda": "needs a GPU",
    "python -m pytest tests/test_cuda.py": "needs a GPU (on a machine without one every test skips)",
    "MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 NODE_RANK=0 handgrad fit --config experiments/configs/digits.yaml "
    "--trainer.strategy ddp --trainer.accelerator cpu --trainer.devices 1 --trainer.num_nodes 2 "
    "--trainer.default_root_dir runs/digits_two_nodes": "the first of two machines: it waits for the second "
    "(tests/test_ddp.py runs both nodes at once on one machine)",
    "MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 NODE_RANK=1 handgrad fit --config experiments/configs/digits.yaml "
    "--trainer.strategy ddp --trainer.accelerator cpu --trainer.devices 1 --trainer.num_nodes 2 "
    "--trainer.default_root_dir runs/digits_two_nodes": "the second of two machines (see NODE_RANK=0)",
}

# ----------------------------------------------------------------------------- the cheap checks


def test_readme_activates_the_environment_once_after_the_quickstart():
    text = (ROOT / "README.md").read_text()
    assert text.count("source .venv/bin/activate") == 1
    assert text.index("make test") < text.index("source .venv/bin/activate") < text.index("## Learn")


def test_docs_use_one_command_convention():
    """No `.venv/bin/...` commands anywhere a reader copies one from: the README activates the venv once."""
    checked = [ROOT / page for page in pages()] + sorted((ROOT / "docs").glob("*.md"))
    checked += sorted((ROOT / "experiments").rglob("*.md")) + sorted((ROOT / "experiments").rglob("*.yaml"))
    checked += sorted((ROOT / "experiments").rglob("*.py")) + sorted((ROOT / "handgrad").rglob("*.py"))
    checked += sorted((ROOT / "tests").glob("test_*.py")) + sorted((ROOT / "experiments").rglob("*.ipynb"))
    offending = []
    for path in checked:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text()).get("cells", [])
            text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
        else:
            text = path.read_text()
        for number, line in enumerate(text.splitlines(), start=1):
            if ".venv/bin/" in line and "source .venv/bin/activate" not in line and path.name != "test_docs.py":
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offending, "write commands for the activated venv (`python ...`, `handgrad ...`):\n" + "\n".join(offending)


def test_excerpts_match_their_files():
    errors = [error for block in all_blocks() if block.marker and block.marker[0] == "excerpt"
              for error in excerpt_errors(block)]
    assert not errors, "\n".join(errors)


def test_every_skip_is_still_in_the_docs():
    shown = {command for block in all_blocks() if block.language in SHELLS for _, command in command_lines(block)}
    assert not set(SKIPPED) - shown, f"SKIPPED lists commands the docs no longer show: {set(SKIPPED) - shown}"


def test_commands_in_the_prose_name_files_that_exist():
    missing = []
    for page in pages():
        for span in re.findall(r"`((?:python|handgrad) [^`]+)`", (ROOT / page).read_text()):
            words = span.split()
            if words[:2] == ["python", "-m"] and words[2].startswith("experiments."):
                words[2] = words[2].replace(".", "/") + ".py"
            for word in words:
                path = word.split(":")[0]
                if "..." not in path and path.startswith(("experiments/", "handgrad/", "tests/", "datamodules/")) and not (ROOT / path).exists():
                    missing.append(f"{page}: `{span}` names {path}")
    assert not missing, "\n".join(missing)


def test_links_and_anchors_resolve():
    broken = []
    for page in pages():
        for target in re.findall(r"\]\(([^)\s]+)\)", (ROOT / page).read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (ROOT / page).parent / path if path else ROOT / page
            if not file.exists():
                broken.append(f"{page}: {target}: no such file")
            elif anchor and file.suffix == ".md":
                headings = {slug(line.lstrip("#")) for line in file.read_text().splitlines() if line.startswith("#")}
                if anchor not in headings:
                    broken.append(f"{page}: {target}: no heading with that anchor")
    assert not broken, "\n".join(broken)


def test_output_comparison_masks_floats_and_nothing_else():
    assert matches_output("loss 0.25 after 3 epochs\n", "loss  0.1875 after 3 epochs\n")
    assert not matches_output("loss 0.25 after 3 epochs\n", "loss 0.25 after 4 epochs\n")
    assert matches_output("a\n... (more)\nz\n", "a\nb\nc\nz\n")
    assert not matches_output("a\nz\n", "a\nb\nz\n")


def test_a_broken_block_is_caught():
    page = "<!-- excerpt: handgrad/functional/linear.py -->\n```python\nclass LinearFunction(Function):\n    return 42\n```\n"
    (block,) = blocks("README.md", page)
    assert excerpt_errors(block) == ["README.md:2: excerpt line not in handgrad/functional/linear.py: return 42"]
    assert plan_command("x", "python experiments/seeds.py").refused  # no --quick: cannot be shortened
    assert plan_command("x", "make bench").refused
    assert plan_command("x", "handgrad fit --config c.yaml").request["argv"][-2:] == SHORT_FIT


# ----------------------------------------------------------------------------- running them


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The repository's files (tracked, and new ones git does not ignore) in a temporary folder."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    target = tmp_path_factory.mktemp("repository")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


class Runner:
    """tests/docs_runner.py in the copy, fed one request at a time."""

    def __init__(self, copy):
        env = dict(os.environ, PYTHONPATH=str(copy), PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                   OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
        self.process = subprocess.Popen([sys.executable, str(copy / "tests" / "docs_runner.py")], cwd=copy, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(self.process.stdout.readline()) == {"ready": True}, "tests/docs_runner.py did not start"

    def __call__(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def test_handgrad_command_is_the_venvs():
    assert shutil.which("handgrad", path=str(VENV_BIN)), f"no handgrad console script in {VENV_BIN}"


def test_docs_run_as_written(copy):
    steps, outputs = plan(SKIPPED)
    runner = Runner(copy)
    failures, ran, seconds = [], 0, {}
    try:
        for index, step in enumerate(steps):
            if step.refused:
                failures.append(f"{step.where}: `{step.shown.strip()}`: {step.refused}")
            if step.request is None:
                continue
            ran += 1
            started = time.perf_counter()
            reply = runner({**step.request, "timeout": 300})
            seconds[step.where] = round(time.perf_counter() - started, 1)
            if reply["status"] != step.expected_status:
                failures.append(f"{step.where}: `{step.shown.strip()[:200]}` exited {reply['status']}, "
                                f"expected {step.expected_status}:\n{reply['stderr'][-3000:]}{reply['stdout'][-1000:]}")
            elif index in outputs and not matches_output(outputs[index].text, reply["stdout"]):
                diff = difflib.unified_diff(normalise(outputs[index].text), normalise(reply["stdout"]),
                                            "shown", "printed now (floats as #)", lineterm="")
                failures.append(f"{outputs[index].where}: the output shown is not what {step.where} prints now:\n"
                                + "\n".join(diff))
    finally:
        runner.close()
        print("seconds per step:", seconds)
    assert ran, "no command or block found in the docs"
    assert not failures, f"{len(failures)} of {ran} doc steps failed:\n\n" + "\n\n".join(failures)
