# Nebula vPbx — two commands: `make up` (run the demo) and `make test` (install what tests need, run them all).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: up test lint unit schema bench clean help

help:
	@echo "make up    - install into .venv and run the platform with the demo tenant on http://127.0.0.1:8080"
	@echo "make test  - install what the tests need (PostgreSQL, ...) and run lint, types and the whole suite"
	@echo "make bench - run the benchmarks in bench/ (figures go to docs/benchmarks.md by hand)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

up: $(STAMP)
	$(BIN)/nebula up

# PostgreSQL server binaries for the test session (it starts its own throwaway cluster on a free port).
.PHONY: test-deps
test-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "$$NEBULA_TEST_POSTGRES_URL" ]; then \
		echo "installing PostgreSQL (Debian package) for the tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/nebula schema --check

test: $(STAMP) test-deps lint
	$(BIN)/pytest

schema: $(STAMP)
	$(BIN)/nebula schema

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
