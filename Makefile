# The two set-up commands of the README: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: up test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

up: $(VENV)/.installed  ## run the service on embedded defaults (SQLite + embedded nats-server)
	$(BIN)/ticketflow up

test: $(VENV)/.installed-test  ## lint (ruff, formatting, import layers), type-check, then the whole suite
	$(MAKE) --no-print-directory lint typecheck
	@# Compile up front: CPython 3.11 can fail ("AST constructor recursion depth mismatch")
	@# when a worker thread's first import compiles while pytest compiles a test module.
	$(BIN)/python -m compileall -q domain services infra projections bench
	$(BIN)/pytest

lint: $(VENV)/.installed-test  ## ruff, the formatter's check, the import contracts of pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy domain services

bench: $(VENV)/.installed-test  # every benchmark, one JSON report; QUICK=1 for small sizes
	$(BIN)/python -m bench.suite $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .ticketflow .pytest_cache .mypy_cache .ruff_cache
