# tailor — two commands do everything on a fresh machine:
#   make demo   creates .venv, installs tailor, plans an example goal
#   make test   installs the dev + train + cloud extras, then format, lint, import contracts, tests
# Both are re-runnable: installs are skipped while pyproject.toml is unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# An unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU build this project tests with.
TORCH  := torch==2.13.0

.PHONY: demo test lint format bench offers clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[train,cloud,dev]' $(TORCH)
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(VENV)/bin/tailor plan examples/goals/api-vs-self-hosted-1m.yaml

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Rebuild catalog/data/offers.csv from SkyPilot-format catalogs (see catalog/build_offers.py).
SNAPSHOT ?= ../shared/catalog-snapshot/anycloud-sh_catalog/HEAD_62ff0a98_2026-05-20
offers: $(VENV)/.installed-demo
	$(PY) -m catalog.build_offers --snapshot $(SNAPSHOT) \
	    --label "anycloud-sh/catalog@62ff0a98 (SkyPilot vms.csv format)" \
	    --extra catalog/data/extra_offers.csv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
