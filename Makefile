# Few named entry points; each one sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package at the version `make lock` resolved (torch's version is set in pyproject.toml).
LOCK := requirements.lock
LINTED := moderation workers tests benchmarks

.PHONY: run test lint bench install lock browser clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

## Resolve pyproject.toml's dependencies (and the dev extra) again into requirements.lock.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file $(LOCK) pyproject.toml

## Chromium for the browser tests (Debian's package; Playwright cannot download browsers here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

## Start the API, workers and an embedded Redis with the defaults (http://127.0.0.1:8000).
run: $(STAMP)
	$(BIN)/moderation serve

## The whole suite: unit, PostgreSQL (when MODERATION_TEST_DATABASE_URL is set), end-to-end, browser,
## in TEST_PROCESSES processes (the tests that start servers and browsers all in one of them).
TEST_PROCESSES ?= 2
test: $(STAMP) browser
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadgroup

## ruff (lint and format) and mypy, as CI and the pre-commit hooks run them.
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy moderation workers

## Three rounds of the pipeline figures (targets judged on medians) and Perspective's, ~12 min.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --rounds 3

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
