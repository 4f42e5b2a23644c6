# ketenbus: `make demo` and `make test` set up everything they need from python3 alone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test bench lint asyncapi setup clean chromium softhsm

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): $(UV) pyproject.toml contracts/pyproject.toml partner_kit/pyproject.toml uv.lock
	$(UV) sync --inexact --frozen --python $(BIN)/python
	touch $(STAMP)

uv.lock:
	$(UV) lock --python $(BIN)/python

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

demo: $(STAMP)
	$(BIN)/ketenbus demo

# The browser tests drive Debian's chromium (never a downloaded browser); install it once
# where it is missing and we may (root), else those tests skip.
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

# kluis's master key in a PKCS#11 token is tested with Debian's SoftHSM (softhsm2); install it
# once where it is missing and we may (root), else those tests skip.
SOFTHSM_UTIL := /usr/bin/softhsm2-util

softhsm:
	@if [ ! -x $(SOFTHSM_UTIL) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q softhsm2; \
	fi

# The tests wait on NATS, the stores and subprocesses much of the time: one pytest worker per
# core (pytest-xdist), each with its own nats-server; a module's or class's tests stay on one
# worker, so module- and class-scoped backbones start once; one PostgreSQL test runs at a time
# (tests/conftest.py). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(STAMP) $(NPM_STAMP) chromium softhsm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

# The slice against raw nats-py, then replay beside a raw read of the same stream (a million
# events is `python -m bench.replay` alone), then the worklist with and without its index, then
# a 2,000-pupil EDEXML import (planned, identities sealed by kluis in batches, published) beside
# raw publishes; the feed's cost per event beside the slice's (signalling) and the raw baseline;
# a pseudonym (one, a batch of 2,000, a 2,000-pupil file) beside a raw request/reply of the
# same size.
# What the inbound guards cost per event (bench.guards); a key release with the relation rules
# beside the old any-relation check and a raw request/reply (bench.kluis). What the slice's two
# applications spend per consumed event, with the batch's aggregates read ahead and without
# (bench.batches), and where a signal's CPU goes step by step on the slice (bench.path).
bench: $(STAMP)
	$(BIN)/python -m bench.slice
	$(BIN)/python -m bench.batches
	$(BIN)/python -m bench.path
	$(BIN)/python -m bench.feed
	$(BIN)/python -m bench.replay --events 100000
	$(BIN)/python -m bench.worklist --plans 2000
	$(BIN)/python -m bench.plan_batch
	$(BIN)/python -m bench.edexml --pupils 2000
	$(BIN)/python -m bench.pseudonym
	$(BIN)/python -m bench.guards
	$(BIN)/python -m bench.kluis

asyncapi: $(STAMP)
	$(BIN)/python -m services.asyncapi

clean:
	rm -rf $(VENV) node_modules .ketenbus test-artifacts
