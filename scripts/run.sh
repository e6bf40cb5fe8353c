#!/usr/bin/env bash
# Installs Jaga into .venv, builds its model pack, and starts the app.
# Offline (kiosk, boat, CI): pass a folder holding the URL sources, e.g. --mirror ../shared/models.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The 'models' extra converts the pack; the app itself runs on ONNX Runtime alone.
.venv/bin/python -m pip install --quiet -e '.[models]' \
  2> >(grep -v '^WARNING: Location' >&2)
.venv/bin/jaga models install "$@"
exec .venv/bin/jaga
