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

VERIFY_DIR ?= verify

.PHONY: install test results lint verify

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
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) \
		--config profile=$(PROFILE)

# Regenerate every result from scratch (fresh SynthMemo and features too) into $(VERIFY_DIR)/, then compare
# every number of its tables with the committed results/tables (tolerance: one test track; see
# damer_lite/report/verify.py). Exit status 1 when something differs beyond the tolerance.
verify: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) \
		--config profile=$(PROFILE) results_dir=$(VERIFY_DIR)/results data_dir=$(VERIFY_DIR)/data
	$(PY) -m damer_lite.report.verify results $(VERIFY_DIR)/results --out $(VERIFY_DIR)/report.md
