#!/usr/bin/env bash
# Set everything up, then run the full test suite headless: the main venv, then the Xi-cam GUI
# test in its own venv (Xi-cam 2.4.6's window needs numpy<1.24, which bornagain cannot share).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-venv.sh all
bash tools/setup-venv.sh gui
export QT_QPA_PLATFORM=offscreen
.venv/bin/python -m pytest -q "$@" tests
.venv-gui/bin/python -m pytest -q "$@" tests/test_gui.py
