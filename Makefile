# metabook: two commands set up a fresh machine (Python 3.11; Chromium for the tests).
#   make book   build the website at full size into _build/html
#   make test   unit tests, every notebook at quick size (nbval), a quick site build,
#               and a headless-Chromium check of the built pages
# Both create or reuse .venv in the checkout and install what they need.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON_BASE ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
STAMP := $(VENV)/.metabook-installed
TEST_DIR := .test-build
IPYDIR := $(TEST_DIR)/ipython

.PHONY: book test setup unit notebooks site-quick site-check bench clean
.DEFAULT_GOAL := book

# ---------------------------------------------------------------- setup
$(PY):
	@$(PYTHON_BASE) -c 'import sys; assert sys.version_info[:2] == (3, 11), "metabook needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON_BASE) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt pyproject.toml scripts/install_learn2learn.sh scripts/web_assets.sh web/package-lock.json
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	bash scripts/install_learn2learn.sh $(PY)
	bash scripts/web_assets.sh
	touch $@

setup: $(STAMP)

# ----------------------------------------------------------------- book
# TQDM_DISABLE=1: no progress bars in executed chapters (a static page cannot animate
# them, and as notebook widgets they would pull a widget manager from a CDN).
book: setup
	TQDM_DISABLE=1 $(JB) build . -W -n --keep-going
	@echo "The book is in _build/html/index.html"

# ---------------------------------------------------------------- tests
# One OpenMP thread: the quick-size models are tiny, one thread is as fast as two on
# them, and a second thread spinning on a busy 2-core machine can slow them tenfold.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 METABOOK_QUICK=1
# Executed notebooks run with the network blocked (tests/kernel_offline.py).
$(IPYDIR)/profile_default/startup/00-offline.py: tests/kernel_offline.py
	mkdir -p $(dir $@)
	cp $< $@

unit: setup
	$(TEST_ENV) CI=$${CI:-} $(PY) -m pytest tests -m "not site"

notebooks: setup $(IPYDIR)/profile_default/startup/00-offline.py
	$(TEST_ENV) IPYTHONDIR=$(abspath $(IPYDIR)) $(PY) -m pytest --nbval-lax notebooks -p no:cacheprovider

site-quick: setup $(IPYDIR)/profile_default/startup/00-offline.py
	$(TEST_ENV) TQDM_DISABLE=1 IPYTHONDIR=$(abspath $(IPYDIR)) $(JB) build . --path-output $(TEST_DIR) -W -n --keep-going

site-check: setup
	METABOOK_SITE_DIR=$(TEST_DIR)/_build/html $(PY) -m pytest tests/test_site.py -m site

test: unit notebooks site-quick site-check
	@echo "All tests passed."

# ------------------------------------------------------------ benchmark
bench: setup
	$(PY) benchmarks/bench_maml.py

clean:
	rm -rf _build $(TEST_DIR) _static/vendor .jupyter_cache-quick $(STAMP)
