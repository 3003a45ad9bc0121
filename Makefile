# Quick start: `make demo` runs the built-in demo, `make test` runs the tests.
# Both create .venv on first use: CPU torch first (so pip does not pull CUDA packages),
# then harness with its test extras at the tested versions of constraints.txt, then the
# example third-party plugin packages (strategies and a backend).
#
# Moving the pins forward: `make test-latest` runs the tests against the newest versions
# pyproject.toml's ranges allow (in .venv-latest, not CI); `make pins` then writes that
# set to constraints.txt.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.harness-installed
LATEST := .venv-latest

.PHONY: setup demo test lint bench clean test-latest pins

$(STAMP): pyproject.toml $(CONSTRAINTS) examples/harness-label-hint/pyproject.toml \
		examples/harness-ia3/pyproject.toml examples/harness-echo-backend/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-label-hint
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-ia3
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-echo-backend
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

# The newest versions the ranges allow, in a venv of their own (torch stays $(TORCH)).
test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -c "import torch" 2>/dev/null || $(LATEST)/bin/python -m pip install --quiet "$(TORCH)"
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]"
	$(LATEST)/bin/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-label-hint
	$(LATEST)/bin/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-ia3
	$(LATEST)/bin/python -m pip install --quiet --no-deps --force-reinstall ./examples/harness-echo-backend
	$(LATEST)/bin/python -m pytest

# Write the versions of .venv-latest (after `make test-latest` passed) to constraints.txt.
pins:
	test -x $(LATEST)/bin/python || { echo "run make test-latest first"; exit 2; }
	{ sed -n '/^#/p' $(CONSTRAINTS); $(LATEST)/bin/python -m pip freeze --exclude-editable \
	  | grep -viE '^(#|harness|torch==|nvidia|triton)'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) $(LATEST) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
