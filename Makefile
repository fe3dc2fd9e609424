# One command sets up and starts the emulator (make run); one sets up and runs every test (make test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install run test bench docs docs-generate clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the emulator with its test and docs dependencies

run: install  ## start the emulator on 127.0.0.1:8080 with the default site (flags: make run ARGS="--port 9000")
	$(BIN)/jira-deployments-emulator $(ARGS)

test: install  ## run the whole test suite (it also builds the documentation with mkdocs build --strict)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install  ## run the benchmark suite (add ARGS=--quick for a one-minute smoke run)
	$(BIN)/python -m pip install --quiet 'py-spy>=0.4'
	$(BIN)/python -m benchmarks $(ARGS)

docs: docs-generate  ## serve the documentation on http://127.0.0.1:8000, rebuilt on every change
	$(BIN)/mkdocs serve $(ARGS)

docs-generate: install  ## rewrite the generated parts of the documentation (settings, control routes, benchmark)
	$(BIN)/python docs/generate.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info site
