# damer-lite: the two commands of the README are `make results` and `make test`.
# Both create .venv and install everything on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned on the same pip command line as the package (one resolver run), so that the range in
# pyproject.toml does not pull a multi-GB CUDA build on a CPU machine. On a GPU machine: make TORCH_SPEC='torch'
# install. pip byte-compiles what it installs: keep it so, where PYTHONDONTWRITEBYTECODE is set (as on this
# project's machines) nothing else writes the .pyc files, and every job would compile torch's modules again
# (~4 s more per process start, measured).
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
PROFILE ?= quick

VERIFY_DIR ?= verify
# the results folder the site shows: results/ for quick, results_<profile>/ for the others (as the Snakefile)
RESULTS_DIR ?= $(if $(filter quick,$(PROFILE)),results,results_$(PROFILE))
KATEX := node_modules/katex/dist/katex.min.js

.PHONY: install test results lint verify site site-deps katex-if-npm

install: $(VENV)/.installed katex-if-npm

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" -e ".[dev,site]"
	touch $@

# KaTeX for the site's equations, pinned in package-lock.json and vendored into node_modules/ (npm registry).
# `make install` fetches it where npm exists; `make site` and `make results` need it.
site-deps: $(KATEX)

$(KATEX): package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && \
		echo "make: installing nodejs and npm (apt-get) to vendor KaTeX for the site" && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }; } || true
	@command -v npm >/dev/null || { echo "make: npm (Node.js) is needed to vendor KaTeX for the site:" \
		"apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

katex-if-npm:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory site-deps; \
	else echo "make install: no npm here, so no KaTeX: make site will not build (apt-get install nodejs npm)" >&2; fi

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

# the pipeline, then the site; without npm/KaTeX (and no way to install them) the results stand and the site
# step says why it was skipped
results: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) \
		--config profile=$(PROFILE)
	@if $(MAKE) --no-print-directory site-deps; then $(MAKE) --no-print-directory site; \
	else echo "make results: results are complete; the companion site was NOT built (needs npm for KaTeX:" \
		"apt-get install nodejs npm, then make site)" >&2; fi

# The offline companion site from what results/ holds now (no notebook is executed): RESULTS_DIR/site/, then
# every page opened in headless Chromium, with a screenshot of the index (skipped where Chromium is absent).
site: install site-deps
	$(PY) -m damer_lite.report.site build --results $(RESULTS_DIR) --out $(RESULTS_DIR)/site
	$(PY) -m damer_lite.report.site check $(RESULTS_DIR)/site --screenshot $(RESULTS_DIR)/site/screenshot.png \
		--if-browser

# Regenerate every result from scratch (fresh SynthMemo and features too) into $(VERIFY_DIR)/, then compare
# every number of its tables with the committed results/tables (tolerance: one test track; see
# damer_lite/report/verify.py). Exit status 1 when something differs beyond the tolerance.
verify: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) \
		--config profile=$(PROFILE) results_dir=$(VERIFY_DIR)/results data_dir=$(VERIFY_DIR)/data
	$(PY) -m damer_lite.report.verify results $(VERIFY_DIR)/results --out $(VERIFY_DIR)/report.md
