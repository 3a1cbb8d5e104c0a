# The two commands a new user runs: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RSTAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(RSTAMP)

demo: $(RSTAMP)
	$(BIN)/monitor demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monitor tests benchmarks
	$(BIN)/ruff format --check monitor tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_margin.py
	$(BIN)/python benchmarks/bench_engine_policy.py
	$(BIN)/python benchmarks/bench_pipeline.py --seconds 120
	$(BIN)/python benchmarks/bench_tick_to_telegram.py --rounds 40
	$(BIN)/python benchmarks/bench_telegram.py
	$(BIN)/python benchmarks/bench_derisk.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
