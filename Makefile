# The two commands a fresh machine needs: `make demo` (set up + main job), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONVZOO := $(VENV)/bin/convzoo
OUT ?= out

.PHONY: setup test lint demo

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build lying on this disk; the project's range accepts it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,ray]'
	touch $@

test: setup lint
	$(PY) -m pytest -q

# Style and the one-way layers (pyproject.toml: [tool.ruff], [tool.importlinter]).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

demo: setup
	OUT=$(OUT) VENV=$(VENV) ./demo.sh
