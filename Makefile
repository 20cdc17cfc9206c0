# The two commands a fresh machine needs: `make demo` (set up + main job), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONVZOO := $(VENV)/bin/convzoo
OUT ?= out

.PHONY: setup test lint demo kserve-client browser

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build lying on this disk; the project's range accepts it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,ray,tracing]'
	touch $@

test: setup lint kserve-client browser
	$(PY) -m pytest -q

# The web page's tests drive Debian's chromium (tests/browser.py). Install it where we can
# (root with apt); elsewhere, or if apt fails, those tests skip with one line saying why.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "make: could not install chromium; the browser tests will skip"; \
	fi

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
