# One command to run the server, one to run every test. Both work on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3001
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/vite.config.ts -type f 2>/dev/null)

.PHONY: serve test install install-dev web system-deps js-deps lint typecheck check clean bench cost

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The demo page: built into the Python package's data when Node.js is present.
chat_core/web_dist/index.html: $(WEB_SOURCES)
	@if [ ! -f web/package.json ]; then echo "no web/ package yet"; exit 0; fi
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix web --no-audit --no-fund --loglevel=error && npm run --prefix web build; \
	else \
		echo "npm not found: the demo page is not built (the server and API work without it)"; \
	fi

web: chat_core/web_dist/index.html

serve: install
	@$(MAKE) --no-print-directory web || echo "demo page build failed; serving the API without it"
	CHAT_DEV=1 PORT=$(PORT) $(BIN)/chat serve

# Debian packages the tests drive: a real redis-server and Chromium.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

js-deps:
	@if [ -f tests/js/package.json ]; then npm ci --prefix tests/js --no-audit --no-fund --loglevel=error; fi
	@if [ -f web/package.json ]; then npm ci --prefix web --no-audit --no-fund --loglevel=error; fi

test: system-deps install-dev js-deps
	@$(MAKE) --no-print-directory web
	@if [ -f web/package.json ]; then npm test --prefix web; fi
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

clean:
	rm -rf $(VENV) chat_core/web_dist web/node_modules tests/js/node_modules

# DynamoDB requests and units per store operation (moto), written to docs/cost-measured.json.
cost: install-dev
	CHAT_COST_OUTPUT=docs/cost-measured.json $(BIN)/pytest -q tests/dynamodb/test_request_costs.py

# Load generator against our server and two reference servers; writes bench/results/latest.json.
bench: install-dev
	@command -v node >/dev/null 2>&1 || $(MAKE) --no-print-directory system-deps
	bench/run.sh
