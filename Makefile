# The README's two commands. Both work from a fresh clone; each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The demo runs the embedded server (API, scheduler, a worker) and the client: the `server`
# extra (it includes the worker's and the science's dependencies). A bare `pip install .`
# is the client only; see the README.
install: $(BIN)/python
	$(BIN)/pip install -q -e '.[server]'

# Reinstalled when the dependencies change (the stamp lives in the venv it describes).
$(VENV)/.installed-dev: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	# NeuroGym is the reference for two tasks (tests only). Its metadata pins numpy 2.2,
	# which clashes with ours, so it goes in without its pins; the tests skip without it.
	$(BIN)/pip install -q --no-deps neurogym==2.3.1 || true
	$(BIN)/pip install -q gymnasium==0.29.1 loguru tqdm tomlkit natsort cloudpickle || true
	touch $@

install-dev: $(VENV)/.installed-dev

# Main job on the embedded default: no external services.
demo: install
	$(BIN)/cortexrnn demo

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy cannot map `cortexrnn.<folder>` to the top-level folders itself: give it a link tree.
PACKAGES := wire services shared api worker cli client migrations
typecheck: install-dev
	rm -rf build/typecheck && mkdir -p build/typecheck/cortexrnn
	for p in $(PACKAGES); do ln -s ../../../$$p build/typecheck/cortexrnn/$$p; done
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml \
		--python-executable ../../$(BIN)/python -p cortexrnn

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) typecheck

clean:
	rm -rf $(VENV) build dist *.egg-info
