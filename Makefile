# interphases: two commands do everything on a fresh Debian 12 machine with Python 3.11.
#   make demo   install (system packages + .venv) and run the main job on built-in data
#   make test   same install, then the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch goes in first (a bare `torch` pulls a multi-GB CUDA build).
# GPU users: make TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# Threads per process: every usable core (issue 16). The evaluator runs the structures of
# each call on one-thread workers, one per core: measured on 2 shared cores with CHGNet,
# 1.67x for the registry scan's energy-only calls and 1.0-1.3x for relaxation steps, never
# slower than one thread (see src/interphases/potentials/evaluate.py).
export OMP_NUM_THREADS ?= $(shell nproc 2>/dev/null || echo 1)
DEMO_OUT ?= demo-output

.PHONY: all install system demo test bench clean help

help:
	@echo "make demo   - install everything and run the main job (interface screening on CHGNet)"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make bench  - run the benchmarks in benchmarks/"

all: demo

system:
	bash scripts/install-system.sh

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: system $(VENV)/.installed

demo: install
	$(VENV)/bin/interphases demo --output $(DEMO_OUT)

test: install
	$(VENV)/bin/pytest tests

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
