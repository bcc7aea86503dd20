# metabook: two commands set up a fresh machine (Python 3.11, 3.12 or 3.13; Chromium
# for the tests).
#   make book   build the website at full size into _build/html
#   make test   ruff (format check and lint), unit tests, every chapter executed once at
#               quick size in the learner's environment (metabook's wheel with its `book`
#               extra, on Python 3.12 like Colab: scripts/wheel_env.py), a quick site
#               build from those executed chapters, and a headless-Chromium check of the
#               pages
#   make format apply ruff's formatting and its safe lint fixes to the package, the tests
#               and the notebooks
#   make student the student notebooks (solutions removed) and their zips, in _build/student
#   make guide   refresh the instructors' guide's computed parts (times, exercises)
# Both create or reuse .venv in the checkout and install what they need.
# Python: the newest of 3.13, 3.12 and 3.11 on PATH, unless named, as in
#   make PYTHON=python3.12 test        (a .venv made by another Python: add VENV=.venv-3.12)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SUPPORTED_PYTHONS := 3.11 3.12 3.13
ifeq ($(origin PYTHON),command line)
PYTHON_CMD := $(shell bash scripts/find_python.sh --resolve "$(PYTHON)")
else
PYTHON_CMD := $(shell bash scripts/find_python.sh)
endif
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
RUFF := $(VENV)/bin/ruff
STAMP := $(VENV)/.metabook-installed
TEST_DIR := .test-build
IPYDIR := $(TEST_DIR)/ipython

.PHONY: book test test-steps setup check-python lint format unit wheel-env chapters \
	notebooks student guide site-quick site-check bench clean
.DEFAULT_GOAL := book

# ---------------------------------------------------------------- setup
$(PY): | check-python
	@bash scripts/find_python.sh --check "$(PYTHON_CMD)"
	$(PYTHON_CMD) -m venv $(VENV)

# An existing venv must be of a supported Python, and of the one named, if one was.
check-python:
	@if [[ "$(origin PYTHON)" == "command line" ]]; then \
	  bash scripts/find_python.sh --check "$(PYTHON_CMD)"; fi
	@if [[ -x $(PY) ]]; then \
	  have=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  if [[ " $(SUPPORTED_PYTHONS) " != *" $$have "* ]]; then \
	    echo "$(VENV) was made with Python $$have; metabook supports $(SUPPORTED_PYTHONS)." >&2; \
	    echo "Remove $(VENV) and run make again." >&2; exit 1; fi; \
	  if [[ "$(origin PYTHON)" == "command line" ]]; then \
	    want=$$($(PYTHON_CMD) -c 'import sys; print("%d.%d" % sys.version_info[:2])' || true); \
	    if [[ -n "$$want" && "$$want" != "$$have" ]]; then \
	      echo "$(VENV) has Python $$have, but PYTHON=$(PYTHON) is Python $$want." >&2; \
	      echo "Remove $(VENV), or use another venv: make PYTHON=$(PYTHON) VENV=.venv-$$want ..." >&2; \
	      exit 1; fi; fi; fi

# learn2learn 0.2.0, rebuilt (its sdist does not build on Python >= 3.11): by the module
# the package ships when there is one (it works on Colab too), else by the script.
L2L_MODULE := $(wildcard metabook/install_learn2learn.py)
L2L_SOURCE := $(or $(L2L_MODULE),scripts/install_learn2learn.sh)
L2L_INSTALL := $(if $(L2L_MODULE),$(PY) -m metabook.install_learn2learn,bash scripts/install_learn2learn.sh $(PY))

# requirements.txt installs the package itself (editable) with its `book` extra, and
# the tools that build the book and run the tests.
$(STAMP): $(PY) requirements.txt pyproject.toml $(L2L_SOURCE) scripts/web_assets.sh web/package-lock.json | check-python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(L2L_INSTALL)
	bash scripts/web_assets.sh
	touch $@

setup: check-python $(STAMP)

# ----------------------------------------------------------------- book
# TQDM_DISABLE=1: no progress bars in executed chapters (a static page cannot animate
# them, and as notebook widgets they would pull a widget manager from a CDN).
# The chapters not yet in the execution cache run first, BOOK_JOBS at a time with
# BOOK_THREADS threads each, longest first (scripts/run_chapters.py); the site build
# then finds every chapter in the cache. Two one-thread chapters at a time finish a
# 2-core machine's book in about the time of its longest chapter; on a bigger machine
# raise both. The same seed and thread count give the same numbers.
BOOK_JOBS ?= 2
BOOK_THREADS ?= 1
BOOK_CACHE := _build/$(if $(filter 1,$(METABOOK_QUICK)),.jupyter_cache-quick,.jupyter_cache)
book: setup student $(IPYDIR)/profile_default/startup/00-offline.py
	OMP_NUM_THREADS=$(BOOK_THREADS) MKL_NUM_THREADS=$(BOOK_THREADS) TQDM_DISABLE=1 \
	IPYTHONDIR=$(abspath $(IPYDIR)) $(PY) scripts/run_chapters.py --python $(PY) \
	--allow-source-tree --jobs $(BOOK_JOBS) --cache $(BOOK_CACHE) --skip-cached \
	--out _build/executed
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

# One formatter and linter for the package, the tests and the notebooks (configured in
# pyproject.toml). `make format` applies it; `make lint` (part of `make test`) checks it.
lint: setup
	$(RUFF) format --check .
	$(RUFF) check .

format: setup
	$(RUFF) check --fix --exit-zero .
	$(RUFF) format .

unit: setup
	$(TEST_ENV) CI=$${CI:-} $(PY) -m pytest tests -m "not site"

# The learner's environment: the package's wheel with its `book` extra, nothing from
# requirements.txt, on Colab's Python (3.12, from PATH or pyenv; WHEEL_PYTHON=... for
# another). Kept in .venv-wheel and rebuilt from nothing when its requirements change
# (scripts/wheel_env.py); stdlib only, so it runs while .venv is being set up.
WHEEL_PYTHON ?= $(shell bash scripts/find_python.sh 3.12)
WHEEL_VENV := .venv-wheel
wheel-env:
	@bash scripts/find_python.sh --check "$(PYTHON_CMD)"
	$(PYTHON_CMD) scripts/wheel_env.py --python "$(WHEEL_PYTHON)" --venv $(WHEEL_VENV)

# Every chapter, executed once at quick size in the learner's environment; each
# student notebook up to its first exercise on the way (scripts/run_chapters.py). The
# executed chapters go into the quick site build's execution cache, so that build
# executes nothing again. `make notebooks` does the same in .venv (quicker to set up).
QUICK_CACHE := $(TEST_DIR)/_build/.jupyter_cache-quick
RUN_CHAPTERS = rm -rf $(QUICK_CACHE) && $(TEST_ENV) TQDM_DISABLE=1 \
	IPYTHONDIR=$(abspath $(IPYDIR)) $(PY) scripts/run_chapters.py --cache $(QUICK_CACHE) \
	--times $(TEST_DIR)/chapter-times.json
# Two chapters at a time (one thread each); learn2learn is rebuilt in the learner's
# environment meanwhile, as its chapter's reader does (scripts/run_chapters.py).
chapters: setup wheel-env $(IPYDIR)/profile_default/startup/00-offline.py
	$(RUN_CHAPTERS) --python $(WHEEL_VENV)/bin/python --learn2learn --jobs 2

notebooks: setup $(IPYDIR)/profile_default/startup/00-offline.py
	$(RUN_CHAPTERS) --python $(PY) --allow-source-tree --jobs 2

# Student notebooks (solutions removed, nbgrader's conventions) and their zips; the
# instructors' page links the zips, so every site build makes them first.
student: setup
	$(PY) scripts/make_student.py --out _build/student

guide: setup
	$(PY) scripts/instructors_guide.py --write

site-quick: setup student $(IPYDIR)/profile_default/startup/00-offline.py $(if $(filter test-steps,$(MAKECMDGOALS)),chapters)
	$(TEST_ENV) TQDM_DISABLE=1 IPYTHONDIR=$(abspath $(IPYDIR)) $(JB) build . --path-output $(TEST_DIR) -W -n --keep-going

site-check: setup $(if $(filter test-steps,$(MAKECMDGOALS)),site-quick)
	METABOOK_SITE_DIR=$(TEST_DIR)/_build/html $(PY) -m pytest tests/test_site.py -m site

# Two jobs: the learner's environment downloads (mostly waiting on the network and the
# disk) while .venv is set up and the unit tests run.
test:
	@$(MAKE) --no-print-directory -j2 --output-sync=line test-steps
	@echo "All tests passed."

test-steps: lint unit chapters site-quick site-check

# ------------------------------------------------------------ benchmark
bench: setup
	$(PY) benchmarks/bench_maml.py

# Leaves the environments (.venv, .venv-wheel); remove them by hand to start afresh.
clean:
	rm -rf _build $(TEST_DIR) _static/vendor .jupyter_cache-quick $(STAMP)
