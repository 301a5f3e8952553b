# The README's two commands: `make demo` and `make test`. Each sets up .venv when needed, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Real data for tests and benchmarks lives beside the checkout when the machine has it.
ifneq ($(wildcard ../shared/data/benchmarks),)
export SRLIB_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test lint unit nbval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[notebooks,dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/srlib demo --out outputs/demo

test: lint unit nbval

lint: $(STAMP)
	$(BIN)/ruff check srlib tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

nbval: $(STAMP)
ifneq ($(wildcard notebooks/*.ipynb),)
	SRLIB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg
else
	@echo "nbval: no notebooks yet"
endif

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
