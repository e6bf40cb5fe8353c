#!/usr/bin/env bash
# Installs the development environment into .venv, builds the model pack, and runs every
# check: ruff (lint + format), mypy --strict, the import-linter layering contracts, pytest
# (the frozen build's smoke test included; JAGA_FROZEN_SMOKE=0 leaves it out).
# Model sources come from ../shared/models (or $JAGA_MIRROR) when that folder exists.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
MIRROR=${JAGA_MIRROR:-../shared/models}
export JAGA_MODELS_DIR=${JAGA_MODELS_DIR:-$PWD/.cache/models}
export QT_QPA_PLATFORM=offscreen
# The frozen build and its smoke test (tests/test_frozen.py): about 45 s here.
export JAGA_FROZEN_SMOKE=${JAGA_FROZEN_SMOKE:-1}

step() { printf '\n== %s\n' "$*"; }

step "environment (.venv)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[models,hub,dev,package]' \
  2> >(grep -v '^WARNING: Location' >&2)
.venv/bin/python -m pip check >/dev/null || .venv/bin/python -m pip check

step "model pack"
if [ -d "$MIRROR" ]; then
  time .venv/bin/jaga models install --mirror "$MIRROR"
else
  echo "no mirror at $MIRROR: tests that need the pack will skip"
fi

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy --strict"
.venv/bin/mypy
step "import-linter"
.venv/bin/lint-imports
step "pytest"
# In parallel worker processes (pytest-xdist), one per core up to four: each worker starts its
# own embedded PostgreSQL and temporary folders, so tests isolated by site or tmp_path stay
# isolated. JAGA_TEST_WORKERS=0 runs everything in this process (for a debugger).
CORES=$(nproc 2>/dev/null || echo 1)
WORKERS=${JAGA_TEST_WORKERS:-$(( CORES < 4 ? CORES : 4 ))}
# The slowest tests are listed so that the suite's growth shows where to trim (CI has 20 min).
.venv/bin/python -m pytest -n "$WORKERS" --durations=25 "$@"
