# MedSynth Notebooks: the commands of the README.
#   make lab   - set up .venv if needed, open JupyterLab on the chapters (embedded phantom data, no download)
#   make app   - same set-up, then serve the apps for clinicians (apps/: Explain this image, Lesion painter)
#                with Voila: pages with the widgets only, no code; MEDSYNTH_RUN=<run folder> explains that model
#   make test  - same set-up, then the whole test suite (unit tests, every notebook in the smoke profile, browser)
#   make site  - the course website in _build/html/ (chapters with the outputs of their last run: cpu profile if
#                benchmarks/notebooks.py saved one, else smoke from make test, else a smoke run now)
#   make solutions - instructors: every chapter with its coding exercises solved, in _build/with_solutions/
# TORCH picks the PyTorch build installed when none is present. The pinned 2.13.0 is the CPU
# wheel on the course's CPU machines; an unpinned "torch" would pull a multi-GB CUDA build there.
# On a GPU workstation: make lab TORCH="torch --index-url https://download.pytorch.org/whl/cu124"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PORT ?= 8888
APP_PORT ?= 8866
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medsynth-installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Voila reads its settings from apps/voila.json (it runs there): outputs only, no code
# (strip_sources); outputs shown while a cell runs (the training bar); uploads up to 512 MiB
# (tornado's websocket default is 10 MiB); a Content-Security-Policy that keeps the page from
# fetching anything but this server (Voila's template links two icon style sheets from a CDN).
# Voila's own server has no root check and rejects --allow-root, so it takes no ROOT_FLAG.

.PHONY: install lab app test site solutions clean-venv

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

app: $(STAMP)
	@echo "Apps for clinicians, no code shown. Open in a browser on this machine:"
	@echo "  http://127.0.0.1:$(APP_PORT)/voila/render/explain_this_image.ipynb   Explain this image"
	@echo "  http://127.0.0.1:$(APP_PORT)/voila/render/lesion_painter.ipynb       Lesion painter"
	@echo "  (all apps: http://127.0.0.1:$(APP_PORT)/ ; stop with Ctrl-C)"
	@# The kernels run in apps/: a run folder given relative to here is made absolute.
	cd apps && MEDSYNTH_RUN=$(if $(MEDSYNTH_RUN),$(abspath $(MEDSYNTH_RUN))) $(abspath $(VENV))/bin/voila --port=$(APP_PORT)

test: $(STAMP)
	MEDSYNTH_PROFILE=smoke $(PY) -m pytest -ra --durations=15

site: $(STAMP)
	$(PY) -m medsynth_nb.course.site

solutions: $(STAMP)
	$(VENV)/bin/medsynth solutions all --overwrite

clean-venv:
	rm -rf $(VENV)
