# The README's two commands: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install system-deps lint bench docs clean

$(BIN)/recdb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/recdb

demo: install
	$(BIN)/recdb demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The programs the tests run besides Python (Chromium, Graphviz, psql, curl): installed
# when run as root, otherwise named with the command that installs them, before any test.
system-deps:
	.ci/system-deps

test: system-deps lint
	$(BIN)/pytest

docs: install
	$(BIN)/recdb docs

bench: install
	$(BIN)/python bench/load_catalog.py

clean:
	rm -rf target logs .pytest_cache .ruff_cache
