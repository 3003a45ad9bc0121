# Quick start: `make demo` runs the built-in demo, `make test` runs the tests.
# Both create .venv on first use: CPU torch first (so pip does not pull CUDA packages),
# then harness with its test extras, then the example third-party plugin package.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.harness-installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml examples/harness-label-hint/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-label-hint
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/harness run

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check harness plugins tests benchmarks
	$(BIN)/ruff format --check harness plugins tests benchmarks
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m benchmarks.eval_throughput

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
