# The book's two commands (see README.md):
#   make book   set up .venv, then build the website into _build/html
#   make test   set up .venv, then run the whole test suite (what CI runs)
# Everything else here is a helper for authors and instructors.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(abspath $(VENV))/bin
# Kernels started by nbval and by the book build must find this venv's python first.
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
export HF_HUB_OFFLINE := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test setup exercises bench lint clean doctor

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -e .
	touch $@

book: setup
	bash scripts/build_book.sh

test: setup
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check aibook tests benchmarks
	$(BIN)/pytest

exercises: setup
	$(BIN)/python -m aibook exercises build

bench: setup
	$(BIN)/python benchmarks/run.py

doctor: setup
	$(BIN)/python -m aibook doctor

lint: setup
	$(BIN)/ruff check aibook tests benchmarks

clean:
	rm -rf _build .pytest_cache .jupyter_cache
