# damer-lite: the two commands of the README are `make results` and `make test`.
# Both create .venv and install everything on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and pinned, so that the range in pyproject.toml does not pull a
# multi-GB CUDA build on a CPU machine. On a GPU machine: make TORCH_SPEC='torch' install
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
PROFILE ?= quick

.PHONY: install test results lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

results: install
	$(VENV)/bin/damer-lite synth --out data/synthmemo_$(PROFILE) --size $(PROFILE) --if-absent
	@if [ -f Snakefile ]; then \
		$(VENV)/bin/snakemake --cores $(CORES) --config profile=$(PROFILE); \
	else \
		echo "The Snakemake pipeline is not in this version yet; SynthMemo ($(PROFILE)) is in data/synthmemo_$(PROFILE)."; \
		$(VENV)/bin/damer-lite validate --dataset synthmemo --root data/synthmemo_$(PROFILE); \
	fi
