# The README's two commands: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench docs clean

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

test: lint
	$(BIN)/pytest

docs: install
	$(BIN)/recdb docs

bench: install
	$(BIN)/python bench/load_catalog.py

clean:
	rm -rf target logs .pytest_cache .ruff_cache
