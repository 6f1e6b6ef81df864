# The two commands of the README: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= sqlite:///./kith.db
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit bench bench-pipeline clean install dev

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)
dev: $(DEVSTAMP)

run: $(STAMP)
	@KITH_DATABASE_URL=$(DB) $(BIN)/kith init --if-new --org Demo --admin-email admin@example.com --admin-password kith-demo-password
	@echo "Kith: http://127.0.0.1:8000  (API docs: http://127.0.0.1:8000/api/v1/docs)"
	@echo "Login: admin@example.com / kith-demo-password (the admin API key was printed by init on first run)"
	KITH_DATABASE_URL=$(DB) $(BIN)/kith serve --host 127.0.0.1 --port 8000

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

unit: $(DEVSTAMP)
	$(BIN)/pytest tests --ignore=tests/browser -p no:playwright
	$(BIN)/pytest tests/browser

# The browser tests (Playwright + Debian's Chromium) run in a second pytest process: pytest-playwright
# and the async tests cannot share one. Chromium is installed when missing (as root, see docs/web.md).
test: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	$(BIN)/pytest tests --ignore=tests/browser -p no:playwright
	$(BIN)/pytest tests/browser

# `make bench`: the issue 6 suite in quick mode (scale 0.01, < 5 min); `make bench BENCH_ARGS=` for the full
# 1M-contact org (generated once, then reused). bench/run.py is the request-path table of issues 2-3.
BENCH_ARGS ?= --quick
bench: $(DEVSTAMP)
	$(BIN)/python bench/suite.py $(BENCH_ARGS)

bench-pipeline: $(DEVSTAMP)
	$(BIN)/python bench/deals_bench.py --quick
	$(BIN)/python bench/leads_bench.py --quick
	$(BIN)/python bench/timeline_bench.py --quick
	$(BIN)/python bench/webhooks_bench.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
