# The two commands a fresh machine needs: `make demo` (set up + main job), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONVZOO := $(VENV)/bin/convzoo
OUT ?= out

.PHONY: setup test lint demo kserve-client

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build lying on this disk; the project's range accepts it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,ray]'
	touch $@

test: setup lint kserve-client
	$(PY) -m pytest -q

# Style and the one-way layers (pyproject.toml: [tool.ruff], [tool.importlinter]).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

demo: setup
	OUT=$(OUT) VENV=$(VENV) ./demo.sh

# KServe's own REST client, for tests/test_server_rest.py: in its own venv (kserve pulls kubernetes and
# fastapi, never project dependencies). If it cannot be installed, that test skips and says why.
kserve-client: $(VENV)-kserve/.installed

$(VENV)-kserve/.installed:
	-$(PYTHON) -m venv $(VENV)-kserve && $(VENV)-kserve/bin/python -m pip install --quiet 'kserve==0.21.*' && touch $@
