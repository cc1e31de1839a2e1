# Developer entry points. `make install` builds .venv once (again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench docs patterns

install: $(STAMP)

# .[dev] pulls every extra (dashboard, calibration, cluster, images, ema), so `make test` runs their tests.
$(STAMP): pyproject.toml reference/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e ".[dev]" -e ./reference
	touch $(STAMP)

demo: install
	$(VENV)/bin/narcoflow run north-korea-2011 --out narcoflow.duckdb

test: install
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests reference benchmarks

bench: install
	$(VENV)/bin/python benchmarks/make_bench.py

# Model vs evidence (issue 13): patterns and targets over 8 seeds at the calibration scale, a few
# minutes on 2 cores; rewrites the "Model vs evidence" section of BENCHMARKS.md. Not part of `bench`.
patterns: install
	$(VENV)/bin/python benchmarks/patterns.py --write

docs: install
	$(VENV)/bin/mkdocs build --strict    # API reference + guides into site/ (mkdocs.yml)
