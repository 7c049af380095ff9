# newsflow: `make run` and `make test` do their own set-up (a .venv with locked dependencies).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip prints one warning per package for this machine's extra local indexes, and one because justext asks for
# lxml's old "html_clean" extra (lxml 6 has none; requirements.txt installs lxml_html_clean itself): keep the
# output readable.
QUIET_PIP := { grep -v -e "is ignored: it is neither a file nor a directory" \
	-e "does not provide the extra 'html_clean'" || true; }

.PHONY: run demo airflow test bench sysdeps lint typecheck clean venv

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@echo "== setting up $(VENV) (first time: a few minutes) =="
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(BIN)/python -c "import newsflow, trafilatura, duckdb, feedparser, great_expectations, airflow"
	touch $(STAMP)

run: $(STAMP)
	bash scripts/airflow-run.sh

demo: $(STAMP)
	$(BIN)/newsflow demo

airflow: $(STAMP)
	bash scripts/airflow-standalone.sh

# Debian's Chromium for the UI browser test (skipped, with its reason, where it cannot be installed).
sysdeps:
	bash scripts/install-sysdeps.sh

test: $(STAMP) sysdeps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	cd bench && ../$(BIN)/python run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .airflow .pytest_cache .mypy_cache .ruff_cache
