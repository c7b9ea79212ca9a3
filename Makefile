# The two commands a new user needs: `make demo` and `make test`. Both create .venv and install the
# pinned dependencies first when needed; a second run skips the install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/neuralprog demo

lint: setup
	$(BIN)/ruff check neuralprog tests benchmarks examples
	$(BIN)/ruff format --check neuralprog tests benchmarks examples
	$(BIN)/mypy neuralprog
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix neuralprog tests benchmarks examples
	$(BIN)/ruff format neuralprog tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -q -n auto --maxprocesses 8 --dist loadfile

bench: setup
	$(BIN)/python benchmarks/addition_training.py
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
