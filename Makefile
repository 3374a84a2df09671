# MedSynth Notebooks: the two commands of the README.
#   make lab   - set up .venv if needed, open JupyterLab on the chapters (embedded phantom data, no download)
#   make test  - same set-up, then the whole test suite (unit tests, every notebook in the smoke profile, browser)
# TORCH picks the PyTorch build installed when none is present. The pinned 2.13.0 is the CPU
# wheel on the course's CPU machines; an unpinned "torch" would pull a multi-GB CUDA build there.
# On a GPU workstation: make lab TORCH="torch --index-url https://download.pytorch.org/whl/cu124"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PORT ?= 8888
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medsynth-installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install lab test clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# Install torch first and only if missing, so the project's range keeps it.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG)

test: $(STAMP)
	MEDSYNTH_PROFILE=smoke $(PY) -m pytest -ra --durations=15

clean-venv:
	rm -rf $(VENV)
