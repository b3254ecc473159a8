# The README's two commands: `make study` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup study test test-all bench bench-full results lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

study: setup
	$(VENV)/bin/handkp-search study --space auto --trials 100 --timeout 600

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m ""

bench: setup
	$(PY) bench/suite.py --size small

bench-full: setup
	$(PY) bench/suite.py --size full

results: setup
	$(PY) bench/results.py

lint: setup
	$(PY) -m pip install -q ruff && $(VENV)/bin/ruff check nas tests bench

clean:
	rm -rf $(VENV) .pytest_cache
