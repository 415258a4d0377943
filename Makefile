# Few named entry points; each one sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Chromium for the browser tests (Debian's package; Playwright cannot download browsers here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

## Start the API, workers and an embedded Redis with the defaults (http://127.0.0.1:8000).
run: $(STAMP)
	$(BIN)/moderation serve

## The whole suite: unit, PostgreSQL (when MODERATION_TEST_DATABASE_URL is set), end-to-end, browser.
test: $(STAMP) browser
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check moderation workers tests benchmarks
	$(BIN)/ruff format --check moderation workers tests benchmarks
	$(BIN)/mypy moderation workers

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache
