# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install clean chromium alertmanager promtool compiler native native-warnings

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `pip install -e` also compiles the optional OTLP decoder (collector/native/) in place: reinstall
# when its sources change.
NATIVE_SOURCES := $(wildcard collector/native/*.c collector/native/*.h)

$(STAMP): pyproject.toml setup.py $(NATIVE_SOURCES) | $(BIN)/python compiler
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/syncsight demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# $(call debian,PACKAGES,WHAT NEEDS THEM,WHEN MISSING): install Debian PACKAGES when we may (root
# with apt-get), else say what to run and what happens without them. The test targets below run
# it only when their tool is missing.
debian = { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's $(1) for $(2)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	  else \
	    echo "$(1) missing: run 'sudo apt-get install $(1)' ($(3))"; \
	  fi; \
	}

# The dashboard's browser test drives Debian's chromium through Playwright (executable_path),
# never downloaded by Playwright.
chromium:
	@command -v chromium >/dev/null 2>&1 || $(call debian,chromium,the dashboard browser test,the browser test is skipped without it)

# The SLA alerting test runs a real Prometheus Alertmanager: Debian's package puts it at
# /usr/bin/prometheus-alertmanager.
alertmanager:
	@command -v prometheus-alertmanager >/dev/null 2>&1 || test -x /usr/bin/prometheus-alertmanager || $(call debian,prometheus-alertmanager,the SLA alerting test,the alerting tests fail without it)

# The self-monitoring alert rules (deploy/prometheus/rules/) are checked and unit-tested by
# Prometheus's promtool: Debian's prometheus package ships it.
promtool:
	@command -v promtool >/dev/null 2>&1 || $(call debian,prometheus,promtool: the alert rules' tests,the rules' tests fail without it)

# The compiled OTLP decoder needs a C compiler and Python's headers (pyenv and python.org builds
# ship the headers; Debian's python3 needs python3-dev).
compiler:
	@command -v cc >/dev/null 2>&1 && $(PYTHON) -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || $(call debian,gcc libc6-dev python3-dev,the compiled OTLP decoder,the pure-Python OTLP decoder serves alone: slower)

# With a compiler present the decoder must have built: its differential tests would be skipped.
native: $(STAMP)
	@! command -v cc >/dev/null 2>&1 || $(BIN)/python -c "import collector._otlp_native" || { \
	  echo "collector._otlp_native did not build although a C compiler is here: see pip install -v -e ."; \
	  exit 1; \
	}

# The decoder compiles without a warning: built once more as a wheel (build/strict/), -Werror on.
native-warnings: $(STAMP)
	@! command -v cc >/dev/null 2>&1 || SYNCSIGHT_NATIVE_STRICT=1 $(BIN)/pip wheel --quiet --no-deps \
	  --no-cache-dir --wheel-dir build/strict .

# Two processes (pytest-xdist), each with its own embedded engine (tests/conftest.py: one chdb data
# path per process); a test file stays in one process, so its module fixtures start once, and so
# does each group of files that start from the same dear data (tests/conftest.py, SHARED_SETUP:
# built once, not once per process). Files marked `dear` are handed out first (tests/conftest.py
# orders them; xdist keeps that order).
unit: $(STAMP) chromium alertmanager promtool native native-warnings
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

test: lint typecheck unit

clean:
	rm -rf $(VENV) .syncsight .pytest_cache .mypy_cache .ruff_cache collector/_otlp_native*.so build
