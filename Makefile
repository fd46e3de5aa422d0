# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser-deps run test load lint audit migrate worker beat clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

## make run: venv, install, migrate, seed the demo when the database is empty, serve on http://127.0.0.1:8000/
run: migrate
	$(BIN)/python manage.py seed_demo --if-empty --base-url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make browser-deps: Debian's Chromium and axe-core for the browser tests (quick when both are present)
browser-deps:
	test -x /usr/bin/chromium || apt-get install -y chromium || (apt-get update && apt-get install -y chromium)
	test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund || npm install --no-audit --no-fund

## make test: the whole suite (SQLite and in-process tasks unless DATABASE_URL / REDIS_URL are set)
test: install browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make load: the load bench (gunicorn, PostgreSQL, Redis on this machine; see docs/reliability.md):
## the ceiling (closed loop), then the latency at a steady 500 votes/s
load: install
	$(BIN)/python bench/load.py
	$(BIN)/python bench/load.py --vote-rate 500

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## make audit: pip-audit over the installed dependencies (exceptions with reasons in .ci/pip-audit-exceptions.txt)
audit: install
	$(BIN)/python .ci/audit.py

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2 -Q wiser

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

clean:
	rm -rf $(VENV) var .pytest_cache
