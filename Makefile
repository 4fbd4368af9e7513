# One command to run the server, one to run every test. Both work on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3001
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/vite.config.ts -type f 2>/dev/null)

.PHONY: serve test install install-dev web system-deps js-deps lint typecheck check clean bench cost soak \
	build-HttpApiFunction build-CleanupFunction

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

# A seeded chaos soak: three nodes on DynamoDB (moto) and Redis, simulated users, faults; the
# history checked (docs/reliability.md). SOAK_SECONDS (default 120), SOAK_SEED (default random),
# SOAK_USERS (default 200), SOAK_THINK_S (mean seconds between a user's actions, default 8).
# Exits 0 only with zero violations; the last line is `N violations`.
soak: system-deps install-dev
	$(BIN)/python -m soak

# --- The Lambda functions: what `sam build` puts in each (template.yaml: BuildMethod: makefile) ---
# SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set. The artifact is the project installed
# as a package with its `lambda` extra: the chat_core and handlers packages (no web demo, nothing
# else from the tree) and every dependency resolved from pyproject.toml, as wheels for the
# functions' platform. LAMBDA_ARCH / LAMBDA_PYTHON follow template.yaml's Architectures / Runtime
# (tests/aws_lambda/test_artifact.py checks, and builds with both set to this machine's).
LAMBDA_ARCH      ?= aarch64
LAMBDA_PYTHON    ?= 3.12
LAMBDA_PLATFORM  ?= manylinux2014_$(LAMBDA_ARCH)
LAMBDA_PIP_FLAGS ?= --platform $(LAMBDA_PLATFORM) --python-version $(LAMBDA_PYTHON) \
	--implementation cp --only-binary=:all:

# The sources are copied to a temporary directory first: the build leaves nothing in the tree,
# and setup.py finds no web/ to build the demo page from. The function's file system is read-only,
# so bytecode is compiled here (when PYTHON is the runtime's version), not at every cold start.
build-HttpApiFunction build-CleanupFunction:
	@[ -n "$(ARTIFACTS_DIR)" ] || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2; }
	set -e; src="$$(mktemp -d)"; trap 'rm -rf "$$src"' EXIT; \
	cp -R $(addprefix $(ROOT)/,pyproject.toml setup.py README.md chat_core handlers) "$$src"/; \
	rm -rf "$$src"/chat_core/web_dist; find "$$src" -name __pycache__ -prune -exec rm -rf {} +; \
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --upgrade \
		--target "$(ARTIFACTS_DIR)" $(LAMBDA_PIP_FLAGS) "$$src[lambda]"
	rm -rf "$(ARTIFACTS_DIR)"/bin
	@if $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(LAMBDA_PYTHON)".split("."))))'; \
	then $(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)" >/dev/null; \
	else echo "note: $(PYTHON) is not Python $(LAMBDA_PYTHON), so no bytecode is precompiled and every cold start" \
		"compiles the sources (0.7-1 s on the development machine); set PYTHON=python$(LAMBDA_PYTHON) to precompile" >&2; fi
