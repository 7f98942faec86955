# replyall-storm: one command per job. `make run` and `make test` set everything up first.
# PYTHON defaults to the newest supported Python (3.13, 3.12, 3.11) that actually runs here;
# pass PYTHON=/path/to/python3.x (and VENV=dir) to choose another.
PYTHON ?= $(shell .ci/find-python 2>/dev/null)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench mutate soak lint clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { .ci/find-python >/dev/null; exit 1; }
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "replyall-storm needs Python 3.11 or later, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,dask,abc,notebooks]"
	touch $@ $(VENV)/.run-installed

## The main job: the NHS 2016 storm at full scale (summary, figure and data in results/).
run: $(VENV)/.run-installed
	$(BIN)/replyall run

## The whole test suite (lint included), as CI runs it; notebooks run in fast mode.
test: $(VENV)/.test-installed
	$(BIN)/ruff check src model experiments tests notebooks/app.py
	REPLYALL_FAST=1 $(BIN)/pytest -n 2 --durations=15 --nbmake tests notebooks

bench: $(VENV)/.run-installed
	$(BIN)/replyall bench

## Mutation testing (slow, not in CI): hand-made bugs in the core modules, caught or not, score
## per module in results/mutation/report.md. MUTATE_ARGS="--module checking --jobs 1" narrows it.
MUTATE_ARGS ?= --jobs 2
mutate: $(VENV)/.test-installed
	nice -n 15 $(BIN)/python tests/mutation/run.py $(MUTATE_ARGS)

## Flakiness under load (slow, not in CI): the whole suite 10 times, two fresh clones side by
## side beside `stress --cpu 1`; one line per run in results/soak/log.txt. SOAK_ARGS narrows it.
SOAK_ARGS ?=
soak: | $(BIN)/python
	$(BIN)/python tests/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .venv-py311 .venv-py313 results .pytest_cache
