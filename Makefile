# The README's two commands. Both work from a fresh clone; each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	# NeuroGym is the reference for two tasks (tests only). Its metadata pins numpy 2.2,
	# which clashes with ours, so it goes in without its pins; the tests skip without it.
	$(BIN)/pip install -q --no-deps neurogym==2.3.1 || true
	$(BIN)/pip install -q gymnasium==0.29.1 loguru tqdm tomlkit natsort cloudpickle || true

# Main job on the embedded default: no external services.
demo: install
	$(BIN)/cortexrnn demo

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
