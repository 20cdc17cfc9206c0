# The two commands a fresh machine needs: `make demo` (set up + main job), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONVZOO := $(VENV)/bin/convzoo
OUT ?= out

.PHONY: setup test lint demo kserve-client browser image-tools image image-test

setup: $(VENV)/.installed

# torch 2.13.0 first: it is the CPU build lying on this disk; the project's range accepts it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[export,test,ray,tracing]'
	touch $@

# The image smoke test (marker `image`) builds for minutes: `make image-test` runs it, not this.
test: setup lint kserve-client browser image-tools
	$(PY) -m pytest -q -m "not image"

# The web page's tests drive Debian's chromium (tests/browser.py). Install it where we can
# (root with apt); elsewhere, or if apt fails, those tests skip with one line saying why.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "make: could not install chromium; the browser tests will skip"; \
	fi

# `make image` builds with Debian's mmdebstrap and podman; install them where we can (root with
# apt), as for chromium. Elsewhere the image test skips with one line saying why.
image-tools:
	@if { ! command -v mmdebstrap || ! command -v podman; } >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap podman >/dev/null; } \
		|| echo "make: could not install mmdebstrap and podman; the image test will skip"; \
	fi

# The CPU serving image (deploy/image/README.md): $(OUT)/image/convzoo-VERSION-cpu.oci.tar, tagged
# localhost/convzoo:VERSION. Needs root, mmdebstrap and podman; no container runtime.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image: setup image-tools
	deploy/image/build.sh $(OUT)/image $(PY)

# Serve from that image (chroot as uid 1000), check it with tritonclient, Prometheus and a drain.
image-test: image
	CONVZOO_IMAGE=$(OUT)/image/convzoo-$(VERSION)-cpu.oci.tar $(PY) -m pytest -q -m image tests/test_image.py

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
