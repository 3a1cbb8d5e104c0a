# The two commands a new user runs: `make demo` and `make test`. Both build .venv on first use, from
# the lock files: exactly the versions the suite has passed with, each checked against its hash.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RSTAMP := $(VENV)/.installed

# requirements/*.lock: pip-compile's output from pyproject.toml (CPython 3.11, Linux). `make lock`
# refreshes them; `make upgrade-check` tries the newest versions pyproject.toml allows.
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK     := requirements/dev.lock
PIP_TOOLS    := pip-tools==7.7.0
TOOLS        := .venv-tools
UPGRADE      := .venv-upgrade
# the suites that talk to ccxt: the contract tests, the simulator, the adapter, the pipeline, de-risking
CONTRACT_SUITE := tests/contract tests/sim tests/venues tests/integration tests/actions
LOCK_ARGS ?=
# pytest-xdist workers for `make test`: one per core (`make test WORKERS=0` runs in one process)
WORKERS ?= auto
COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(TOOLS)/bin/pip-compile --quiet --generate-hashes \
	--strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: demo test lint typecheck bench clean lock upgrade-check

# setuptools warns, in a box of asterisks, on every editable install of a flat-layout project; on a
# first `make demo` that box was the first thing a new user read. Only that warning is silenced.
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q --no-deps -e .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the lock first, with hashes required; then the project itself, which must not pull anything else;
# then pip check: a lock that pyproject.toml's ranges refuse (a ccxt bumped by hand) stops here
$(RSTAMP): $(RUNTIME_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r $(RUNTIME_LOCK)
	$(EDITABLE)
	$(BIN)/pip check
	touch $@

$(STAMP): $(DEV_LOCK) $(RUNTIME_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r $(DEV_LOCK)
	$(EDITABLE)
	$(BIN)/pip check
	touch $@ $(RSTAMP)

demo: $(RSTAMP)
	$(BIN)/monitor demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monitor tests benchmarks
	$(BIN)/ruff format --check monitor tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q -n $(WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_margin.py
	$(BIN)/python benchmarks/bench_engine_policy.py
	$(BIN)/python benchmarks/bench_pipeline.py --seconds 120
	$(BIN)/python benchmarks/bench_coalescing.py --seconds 30
	$(BIN)/python benchmarks/bench_tick_to_telegram.py --rounds 40
	$(BIN)/python benchmarks/bench_telegram.py
	$(BIN)/python benchmarks/bench_derisk.py

# pip-compile in a venv of its own, installed on demand: it is a tool, not a dependency
$(TOOLS)/bin/pip-compile:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux")' \
		|| { echo "the locks are for CPython 3.11 on Linux: PYTHON=python3.11 make ..."; exit 2; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --upgrade pip '$(PIP_TOOLS)'

# Keeps every pin that pyproject.toml still allows. LOCK_ARGS=--upgrade takes the newest of everything,
# LOCK_ARGS="--upgrade-package ccxt" the newest ccxt (run `make upgrade-check` first). The runtime lock
# is constrained by the dev lock, so the two never disagree on a version.
lock: $(TOOLS)/bin/pip-compile
	$(COMPILE) $(LOCK_ARGS) --extra dev -o $(DEV_LOCK) pyproject.toml
	$(COMPILE) -c $(DEV_LOCK) -o $(RUNTIME_LOCK) pyproject.toml

# The newest versions pyproject.toml allows, locked and installed in a scratch venv, then the suites
# that talk to ccxt. The candidate lock is left in $(UPGRADE)/dev.lock; its difference from ours is
# printed. Nothing under requirements/ changes: adopting it is `make lock LOCK_ARGS=--upgrade`, reviewed.
upgrade-check: $(TOOLS)/bin/pip-compile
	rm -rf $(UPGRADE)
	$(PYTHON) -m venv $(UPGRADE)
	$(UPGRADE)/bin/pip install -q --upgrade pip
	$(COMPILE) --upgrade --extra dev -o $(UPGRADE)/dev.lock pyproject.toml
	$(UPGRADE)/bin/pip install -q --require-hashes -r $(UPGRADE)/dev.lock
	$(UPGRADE)/bin/pip install -q --no-deps -e .
	$(UPGRADE)/bin/pip check
	@grep -E '^[a-z0-9]' $(DEV_LOCK) > $(UPGRADE)/locked.txt
	@grep -E '^[a-z0-9]' $(UPGRADE)/dev.lock > $(UPGRADE)/newest.txt
	@echo "--- versions that differ from $(DEV_LOCK) (< locked, > newest allowed):"
	@diff $(UPGRADE)/locked.txt $(UPGRADE)/newest.txt || true
	$(UPGRADE)/bin/python -c 'import monitor.daemon.versions as v; print(v.report(v.installed()))'
	$(UPGRADE)/bin/pytest -q -p no:cacheprovider $(CONTRACT_SUITE)

clean:
	rm -rf $(VENV) $(TOOLS) $(UPGRADE) .pytest_cache .mypy_cache .ruff_cache .hypothesis
