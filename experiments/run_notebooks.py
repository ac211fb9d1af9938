"""Execute the notebooks of experiments/notebooks top to bottom in a fresh kernel and save their outputs.

The saved outputs (figures included) are then those of a clean run of the committed code;
tests/test_notebooks.py executes them again and fails on any error.

To run:  python -m experiments.run_notebooks [experiments/notebooks/03_a_network.ipynb ...]
(needs the notebooks extra: pip install -e '.[notebooks]')
"""
import argparse
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def notebooks():
    """The notebooks in reading order (their names start with the chapter number)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(path, cwd=None, timeout=120):
    """Run the notebook at ``path`` in a fresh python3 kernel started in ``cwd`` (default: its folder);
    returns (the executed notebook, seconds). A cell that raises stops the run with CellExecutionError."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def main(argv=None):
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    args = parser.parse_args(argv)
    for path in args.paths or notebooks():
        notebook, seconds = execute(path)
        nbformat.write(notebook, path)
        print(f"{path.name}: {seconds:.1f} s")


if __name__ == "__main__":
    main()
