#!/usr/bin/env bash
# Set up and build the aibook website: fetch the offline JavaScript (MathJax, ipywidgets
# embed) from npm, then build with Jupyter Book 1, executing every chapter notebook and
# treating every warning as an error. The site lands in _build/html/ (open index.html);
# the full log is kept in _build/site-build.log (tests/test_site.py reads it).
# Usage: bash scripts/build_book.sh [extra jupyter-book build options, e.g. --all]
# Environment: PYTHON (default: python3 on PATH) picks the environment with jupyter-book.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
JB="$(dirname "$(command -v "$PYTHON")")/jupyter-book"
[ -x "$JB" ] || JB=jupyter-book

bash scripts/vendor_assets.sh || exit 1
mkdir -p _build
# Kernels started for the chapters import aibook from this checkout even when it is not
# pip-installed, so the chapters' install-if-missing cell does nothing here.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# A test runner may set MPLBACKEND=Agg; kernels must use their inline backend to show figures.
unset MPLBACKEND
export NO_COLOR=1
# Nothing downloads at run time: the chapters' model ships in a package.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$(date +%s)
"$JB" build . -W -n --keep-going "$@" 2>&1 | tee _build/site-build.log
status=${PIPESTATUS[0]}
echo "build_book: exit $status after $(( $(date +%s) - start )) s; site: $ROOT/_build/html/index.html" \
  | tee -a _build/site-build.log
exit "$status"
