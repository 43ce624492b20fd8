# Nebula vPbx — two commands: `make up` (run the demo) and `make test` (install what tests need, run them all).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

.PHONY: up test test-asterisk lint unit schema bench clean help web web-test

help:
	@echo "make up    - install into .venv and run the platform with the demo tenant on http://127.0.0.1:8080"
	@echo "make test  - install what the tests need (PostgreSQL, ...) and run lint, types and the whole suite"
	@echo "make bench - run the benchmarks in bench/ (figures go to docs/benchmarks.md by hand)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

up: $(STAMP) web
	$(BIN)/nebula up

# The web client (web/, Vite + TypeScript): `npm ci` when the lock changes, a build when a source changes.
WEB_SOURCES := $(shell find web/src web/scripts -type f 2>/dev/null) web/index.html web/package.json \
	web/tsconfig.json web/vite.config.ts
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUILT := web/dist/.built

$(WEB_DEPS): web/package-lock.json
	@command -v npm >/dev/null || { echo "Node 20 (node, npm) is needed to build the web client"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILT): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run --silent build
	touch $@

web: $(WEB_BUILT)

web-test: $(WEB_DEPS)
	cd web && npm test --silent

# PostgreSQL server binaries for the test session (it starts its own throwaway cluster on a free port).
.PHONY: test-deps
test-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "$$NEBULA_TEST_POSTGRES_URL" ]; then \
		echo "installing PostgreSQL (Debian package) for the tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Chromium (Debian package) for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/nebula schema --check

test: $(STAMP) test-deps lint web web-test
	$(BIN)/pytest

# The opt-in suite against a real Asterisk 22 (NEBULA_TEST_ARI_URL and the rest: tests/asterisk/README.md).
test-asterisk: $(STAMP) test-deps web
	$(BIN)/pytest tests/asterisk

schema: $(STAMP)
	$(BIN)/nebula schema

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist
