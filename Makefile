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
# nbval reads a cell's output only after the cell ends, and ZeroMQ drops messages past its
# high-water mark (about 2,000 queued), the final 'idle' among them; nbval then fails with
# "Timeout of 5 seconds exceeded waiting for output". A widget progress bar sends three messages
# per refresh, so bars refresh at most once a second in executed notebooks (tqdm reads TQDM_*).
export TQDM_MININTERVAL := 1

.PHONY: book test test-seeds setup exercises bench lint clean doctor

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -e .
	touch $@

book: setup
	bash scripts/build_book.sh

# Every claim must hold at any seed offset. pytest builds the site, which executes every chapter
# at offset 0; then nbval executes the chapters under the evidence standard at a second offset
# derived from the commit (printed, so `make test-seeds OFFSETS=<it>` replays a failure).
test: setup
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check aibook tests benchmarks scripts
	$(BIN)/pytest
	@offset=$$($(BIN)/python scripts/seed_pass.py offset); \
	chapters=$$($(BIN)/python scripts/seed_pass.py chapters); \
	echo "second seed pass: AIBOOK_SEED_OFFSET=$$offset (from commit $$(git rev-parse --short HEAD 2>/dev/null || echo none)) on: $$chapters"; \
	if [ -n "$$chapters" ]; then AIBOOK_SEED_OFFSET=$$offset $(BIN)/pytest -p no:cacheprovider $$chapters; fi

# For authors and reviewers: every chapter at the given offsets, e.g. make test-seeds OFFSETS="0 5 99".
OFFSETS ?= 17 101 4242
test-seeds: setup
	@for o in $(OFFSETS); do \
	  echo "== every chapter at AIBOOK_SEED_OFFSET=$$o"; \
	  AIBOOK_SEED_OFFSET=$$o $(BIN)/pytest -p no:cacheprovider chapters || exit 1; \
	done

exercises: setup
	$(BIN)/python -m aibook_course exercises build

bench: setup
	$(BIN)/python -m benchmarks.run

doctor: setup
	$(BIN)/python -m aibook doctor

lint: setup
	$(BIN)/ruff check aibook tests benchmarks scripts

clean:
	rm -rf _build .pytest_cache .jupyter_cache
