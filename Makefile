# The README's two commands. Both work from a fresh clone; each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck install install-dev clean mutation mutation-sample mutation-save

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

# Mutation testing (mutmut; docs/testing.md has the scores and the surviving mutants). mutmut
# imports the mutants from its own copy of the sources, which the editable install's folder
# mapping (setup.py) would bypass in the checkout: so it runs in build/mutation, a copy laid
# out as the installed package (cortexrnn/<folder>), where it also keeps its results between
# runs (mutmut keeps a file it once copied unmutated while that file is unchanged, so another
# MUTATE or MUTATION_TESTS starts from fresh mutants). MUTATE: globs of the files to mutate;
# MUTATION_TESTS: the tests that judge them; MUTATION_MARKERS: pytest's -m; MUTANTS: globs of
# mutant names to run (all by default; e.g. 'cortexrnn.worker.scheduler.x__pick_next_run*'):
#   make mutation MUTATE=cortexrnn/services/training/adam.py \
#        MUTATION_TESTS=tests/training/test_adam_reference.py MUTATION_MARKERS="not slow"
MUTATE ?= cortexrnn/services/model/*.py cortexrnn/services/training/*.py \
	cortexrnn/services/tasks/*.py cortexrnn/services/priors/*.py \
	cortexrnn/services/topology/*.py cortexrnn/services/stats/*.py \
	cortexrnn/worker/scheduler.py cortexrnn/shared/lifecycle.py
MUTATION_TESTS ?= tests/model tests/training tests/tasks tests/priors tests/topology \
	tests/stats tests/service/test_scheduler.py tests/integration/test_scheduler_slots.py
MUTATION_MARKERS ?= not slow
MUTATION_JOBS ?= 2
MUTATION_DIR ?= build/mutation
# mutmut's verdicts per source file (its .meta files), kept in the repository under a key of
# the configuration above, so that a full run can span machines: a run starts from the saved
# verdicts, judges only the mutants without one (or those named in MUTANTS), and saves them
# back; mutmut drops the verdicts of a function whose code has changed.
MUTATION_RESULTS ?= docs/mutation-results
toml_list = $(foreach w,$(1),"$(w)",)
mutation: install-dev
	mkdir -p $(MUTATION_DIR)/cortexrnn
	for p in $(PACKAGES); do \
		rsync -a --delete --exclude __pycache__ $$p/ $(MUTATION_DIR)/cortexrnn/$$p/; done
	rsync -a --delete --exclude __pycache__ tests/ $(MUTATION_DIR)/tests/
	{ printf '%s\n' '[tool.mutmut]' 'source_paths = ["cortexrnn"]' \
		'only_mutate = [$(call toml_list,$(MUTATE))]' \
		'pytest_add_cli_args_test_selection = [$(call toml_list,$(MUTATION_TESTS))]' \
		'pytest_add_cli_args = ["-m", "$(MUTATION_MARKERS)", "-p", "no:cacheprovider"]' \
		'process_isolation = "forkserver"' 'use_git_change_detection = false' ''; \
	  sed -n '/^\[tool.pytest.ini_options\]/,/^$$/p' pyproject.toml; \
	} > $(MUTATION_DIR)/pyproject.toml.new
	cmp -s $(MUTATION_DIR)/pyproject.toml.new $(MUTATION_DIR)/pyproject.toml || \
		rm -rf $(MUTATION_DIR)/mutants
	mv $(MUTATION_DIR)/pyproject.toml.new $(MUTATION_DIR)/pyproject.toml
	saved=$(CURDIR)/$(MUTATION_RESULTS)/$$(sha256sum $(MUTATION_DIR)/pyproject.toml | cut -c1-12); \
	if [ -d $$saved ]; then mkdir -p $(MUTATION_DIR)/mutants && \
		rsync -a --update --exclude configuration.toml $$saved/ $(MUTATION_DIR)/mutants/; fi; \
	cd $(MUTATION_DIR) && \
		CORTEXRNN_MICRONS_DIR=$${CORTEXRNN_MICRONS_DIR:-$(CURDIR)/../shared/data/microns} \
		OMP_NUM_THREADS=1 $(CURDIR)/$(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(foreach m,$(MUTANTS),'$(m)'); \
		$(CURDIR)/$(BIN)/mutmut results; \
	cd $(CURDIR) && $(MAKE) --no-print-directory mutation-save

# Save the verdicts so far (also of a run that was stopped: mutmut records each as it comes).
mutation-save:
	saved=$(MUTATION_RESULTS)/$$(sha256sum $(MUTATION_DIR)/pyproject.toml | cut -c1-12); \
	mkdir -p $$saved && cp $(MUTATION_DIR)/pyproject.toml $$saved/configuration.toml && \
	rsync -a --prune-empty-dirs --include '*/' --include '*.meta' --exclude '*' \
		$(MUTATION_DIR)/mutants/ $$saved/ && echo "verdicts saved in $$saved"

# CI's share of it: a seeded sample of mutants of the modules with fast tests; fails when the
# sample shows the killed fraction below the target (tools/mutation_sample.py).
MUTATION_SAMPLE ?= 40
mutation-sample: install-dev
	$(BIN)/python tools/mutation_sample.py --size $(MUTATION_SAMPLE)

clean:
	rm -rf $(VENV) build dist *.egg-info
