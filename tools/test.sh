#!/usr/bin/env bash
# Set everything up, then run the full test suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-venv.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@" tests
