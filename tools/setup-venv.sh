#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in ./.venv with every dependency.
# Re-running is cheap: nothing is installed again unless setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum setup.py | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch is pinned to the CPU build that lies on these machines' disk (see README for CUDA).
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet -e ".[all]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
