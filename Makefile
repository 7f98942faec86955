# replyall-storm: one command per job. `make run` and `make test` set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "replyall-storm needs Python 3.11, found " + sys.version'
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
	$(BIN)/ruff check src model experiments tests
	REPLYALL_FAST=1 $(BIN)/pytest -n 2 --durations=15 --nbmake tests notebooks

bench: $(VENV)/.run-installed
	$(BIN)/replyall bench

clean:
	rm -rf $(VENV) results .pytest_cache
