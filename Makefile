# One command sets up and starts the emulator (make run); one sets up and runs every test (make test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install run test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the emulator with its test dependencies

run: install  ## start the emulator on 127.0.0.1:8080 with the default site (flags: make run ARGS="--port 9000")
	$(BIN)/jira-deployments-emulator $(ARGS)

test: install  ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install  ## run the benchmark suite (add ARGS=--quick for a one-minute smoke run)
	$(BIN)/python -m pip install --quiet 'py-spy>=0.4'
	$(BIN)/python -m benchmarks $(ARGS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
