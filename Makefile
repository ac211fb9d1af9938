# Two commands from a fresh clone: `make train` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS_STAMP := $(VENV)/.installed-notebooks
CONFIG ?= experiments/configs/digits.yaml
RUN_DIR ?= runs/digits

.PHONY: venv train test bench clean

venv: $(STAMP)

# Rebuild the environment when it is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The notebooks' runner (nbclient, nbformat, ipykernel): the tests need it, training does not.
$(NOTEBOOKS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	touch $(NOTEBOOKS_STAMP)

train: $(STAMP)
	rm -rf $(RUN_DIR)
	$(BIN)/handgrad fit --config $(CONFIG) --trainer.default_root_dir $(RUN_DIR)
	$(BIN)/handgrad test --config $(CONFIG) --trainer.default_root_dir $(RUN_DIR) --ckpt_path $(RUN_DIR)/checkpoints/best.ckpt

# Two worker processes (pytest-xdist), each test file on one of them: the suite's fixtures are per file.
# The ten slowest tests are listed at the end, to keep the suite fast.
test: $(NOTEBOOKS_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=10

bench: $(STAMP)
	$(BIN)/python experiments/bench_ops.py
	$(BIN)/python experiments/bench_descent.py

clean:
	rm -rf $(VENV) runs *.egg-info
