# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install clean chromium alertmanager

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
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

# The dashboard's browser test drives Debian's chromium through Playwright (executable_path);
# installed here when missing and we may (root with apt-get), never downloaded by Playwright.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the dashboard browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium' (the browser test is skipped without it)"; \
	  fi; \
	}

# The SLA alerting test runs a real Prometheus Alertmanager: Debian's package puts it at
# /usr/bin/prometheus-alertmanager; installed here when missing and we may (root with apt-get).
alertmanager:
	@command -v prometheus-alertmanager >/dev/null 2>&1 || test -x /usr/bin/prometheus-alertmanager || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's prometheus-alertmanager for the SLA alerting test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; \
	  else \
	    echo "prometheus-alertmanager is missing: run 'sudo apt-get install prometheus-alertmanager'"; \
	  fi; \
	}

unit: $(STAMP) chromium alertmanager
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .syncsight .pytest_cache .mypy_cache .ruff_cache
