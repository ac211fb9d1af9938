"""The notebooks of experiments/notebooks: each runs top to bottom in a fresh kernel without an error,
within its time, and prints the numbers saved in it (the saved outputs are a clean run's)."""
import re
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebooks extra: pip install -e '.[notebooks]'")
nbclient = pytest.importorskip("nbclient", reason="the notebooks extra: pip install -e '.[notebooks]'")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments.run_notebooks import execute, notebooks  # noqa: E402

NOTEBOOKS = notebooks()
NAMES = [path.name for path in NOTEBOOKS]
CPU_SECONDS_EACH, WALL_SECONDS_ALL = 30, 180
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
CPU_CELL = ("import resource as _resource\n"  # the kernel's CPU time and that of any command it ran
            "_usage = [_resource.getrusage(who) for who in (_resource.RUSAGE_SELF, _resource.RUSAGE_CHILDREN)]\n"
            "print('cpu seconds', sum(usage.ru_utime + usage.ru_stime for usage in _usage))")


class Runs(dict):
    """{notebook name: (saved, executed or the error, wall s, cpu s)}, and the folder they ran in."""

    def __init__(self, results, root):
        super().__init__(results)
        self.root = root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every notebook executed once, in a copy of the folders it reads and writes (the repository's
    files stay as committed): {name: (saved notebook, executed notebook or the error, wall s, cpu s)};
    ``runs.root`` is the copy."""
    root = tmp_path_factory.mktemp("repository")
    (root / "experiments" / "notebooks").mkdir(parents=True)
    for folder in ("results", "exercises", "configs"):  # what the notebooks read (and 04, 05 write)
        shutil.copytree(ROOT / "experiments" / folder, root / "experiments" / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (root / "docs").mkdir()
    results = {}
    for path in NOTEBOOKS:
        saved = nbformat.read(path, as_version=4)
        copy = root / "experiments" / "notebooks" / path.name
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(CPU_CELL))
        nbformat.write(notebook, copy)
        try:
            executed, wall = execute(copy, timeout=300)
        except nbclient.exceptions.CellExecutionError as error:
            results[path.name] = (saved, error, None, None)
            continue
        cpu = float(executed.cells[-1].outputs[0].text.split()[-1])
        executed.cells.pop()
        results[path.name] = (saved, executed, wall, cpu)
    return Runs(results, root)


def printed_numbers(cell):
    """The numbers a code cell printed (stdout and plain-text results), in order."""
    text = ""
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stdout":
            text += output.text
        elif output.output_type in ("execute_result", "display_data"):
            plain = output.get("data", {}).get("text/plain", "")
            if not plain.startswith("<"):  # an object's repr such as <Figure ...> carries no result
                text += plain
    return [float(number) for number in NUMBER.findall(text)]


def test_the_chapters_are_numbered_in_reading_order():
    numbers = [int(name[:2]) for name in NAMES]
    assert numbers[0] == 1 and numbers == sorted(set(numbers)) and len(numbers) >= 6, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_without_an_error(runs, name):
    saved, executed, wall, cpu = runs[name]
    assert not isinstance(executed, Exception), f"{name} failed in a fresh kernel:\n{executed}"


@pytest.mark.parametrize("name", NAMES)
def test_saved_outputs_are_those_of_a_clean_run(runs, name):
    saved, executed, wall, cpu = runs[name]
    if isinstance(executed, Exception):
        pytest.fail(f"{name} did not run: {str(executed).splitlines()[0]}")
    code = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), f"{name}: saved with unexecuted cells"
    again = [cell for cell in executed.cells if cell.cell_type == "code"]
    for index, (before, after) in enumerate(zip(code, again)):
        if "varies" in before.metadata.get("tags", []):  # timings: they differ from run to run
            continue
        old, new = printed_numbers(before), printed_numbers(after)
        assert len(old) == len(new), f"{name}, code cell {index}: printed {len(new)} numbers, saved {len(old)}"
        assert new == pytest.approx(old, rel=2e-2, abs=2e-3), f"{name}, code cell {index}: printed numbers changed"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_shows_figures_and_ends_with_try_this_cells(name):
    notebook = nbformat.read(ROOT / "experiments" / "notebooks" / name, as_version=4)
    images = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert images, f"{name}: no figure saved"
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert all(source.startswith("# Try this") for source in code[-2:]), f"{name}: does not end with 'Try this' cells"
    for source in code:
        private = re.findall(r"\b(?:torch|handgrad|lightning|jsonargparse)(?:\.\w+)*\._\w+", source)
        assert not private, f"{name}: uses private names {private}"


def test_notebooks_run_within_their_time(runs):
    """CPU seconds of each kernel (steady on a shared machine, unlike wall time), and the wall time of all."""
    times = {name: (wall, cpu) for name, (_, executed, wall, cpu) in runs.items() if cpu is not None}
    summary = ", ".join(f"{name[:2]}: {wall:.0f} s wall / {cpu:.0f} s cpu" for name, (wall, cpu) in times.items())
    print(summary)  # pytest -rP shows it
    assert all(cpu < CPU_SECONDS_EACH for wall, cpu in times.values()), summary
    assert sum(wall for wall, cpu in times.values()) < WALL_SECONDS_ALL, summary


def ran(runs, number):
    name = next(name for name in NAMES if name.startswith(number))
    if isinstance(runs[name][1], Exception):
        pytest.fail(f"{name} did not run")


def test_notebook_4_writes_the_backprop_animation(runs):
    from PIL import Image

    ran(runs, "04")
    committed = Image.open(ROOT / "experiments" / "results" / "backprop_animation.gif")
    written = Image.open(runs.root / "experiments" / "results" / "backprop_animation.gif")
    assert written.n_frames == committed.n_frames == 6  # the forward pass and the 5 backward calls
    assert written.size == committed.size


def test_notebook_5_writes_the_claims_table_with_a_verdict_for_each_claim(runs):
    ran(runs, "05")
    for page in (runs.root / "docs" / "claims.md", ROOT / "docs" / "claims.md"):
        rows = [line for line in page.read_text().splitlines() if line.startswith("| ") and "claim of the primer" not in line]
        assert len(rows) >= 9, page
        for row in rows:
            verdict = row.rstrip(" |").rsplit("| ", 1)[-1]
            assert verdict.startswith(("holds", "does not hold here")), row
