# assetmap — every target installs what it needs first; run from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install data test lint maps bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Copy (from $$ASSETMAP_DATA_MIRROR) or download the real open data into data/external/
data: install
	$(VENV)/bin/assetmap data --network greater-icknield

## The test suite (the README's test command)
test: install
	$(PY) -m pytest -n 2 --dist loadfile

## The map bundle from assetmap.toml (offline, committed demo data; real data after make data)
maps: install
	$(VENV)/bin/assetmap build assetmap.toml -o dist/maps
	$(VENV)/bin/assetmap build rutland.toml -o dist/rutland

## Benchmarks against peers in one run -> bench/results.json (BENCH_QUICK=1 for a small sample)
bench: install
	$(PY) -m bench.run

lint: install
	$(VENV)/bin/ruff check assetmap tests scripts
	$(VENV)/bin/ruff format --check assetmap tests scripts
	$(VENV)/bin/mypy
	$(PY) scripts/strip_notebooks.py --check

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis data/cache bench/work
