# FeeFiFoFunds: `make demo` runs the main job on sample data, `make test` runs the whole suite.
# Both install what they need first (Python packages in .venv, Debian packages when missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py

.PHONY: install bytecode system-deps services stop migrate demo serve test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) system-deps bytecode

# The project's modules compiled ahead (pip compiles the installed packages, not an editable project): every
# command then reads bytecode instead of compiling its modules at start, also where PYTHONDONTWRITEBYTECODE
# is set (container images often set it). Only changed modules are compiled again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q feefifofunds feefifofunds_project manage.py

# Maven fetches the QuestDB jar; PostgreSQL serves the test catalog; Chromium runs the browser test
# (driven by Playwright, never with a downloaded browser). Installed only when missing.
system-deps:
	@missing=""; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

services: install
	$(BIN)/python -m feefifofunds.store.server start

stop:
	@test -x $(BIN)/python && $(BIN)/python -m feefifofunds.store.server stop || true

migrate: services
	$(MANAGE) migrate --no-input

DEMO_DATA := .state/demo/data

# The main job end to end on sample data: real Kraken excerpts plus a generated multi-pair archive.
demo: migrate
	$(MANAGE) check_questdb_version
	$(MANAGE) make_sample_archive --data-dir $(DEMO_DATA)
	$(MANAGE) ingest_sequential --data-dir $(DEMO_DATA) --yes
	$(MANAGE) price_summary
	@echo ""
	@echo "Dashboard: run  make serve  then open http://127.0.0.1:8000/"
	@echo "(QuestDB keeps running; 'make stop' stops it.)"

# The dashboard and API as users run them: gunicorn, static files served by the app, 127.0.0.1:8000
# (FEEFIFOFUNDS_HOST / FEEFIFOFUNDS_PORT / DJANGO_ALLOWED_HOSTS to change).
serve: migrate
	$(BIN)/python -m feefifofunds.web.serve

# Each benchmark runs alone too, with a size option for a quick check (see each script's docstring).
bench: migrate
	$(BIN)/python benchmarks/ingest_bench.py
	$(BIN)/python benchmarks/ingest_bench.py --sync --row-loop-seconds 0
	$(BIN)/python benchmarks/growth_bench.py
	$(BIN)/python benchmarks/gaps_bench.py
	$(BIN)/python benchmarks/requests_bench.py
	$(BIN)/python benchmarks/scale_bench.py

lint: $(STAMP)
	$(BIN)/ruff check .

test: install lint
	$(BIN)/pytest

clean: stop
	rm -rf .state
