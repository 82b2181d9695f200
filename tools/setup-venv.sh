#!/usr/bin/env bash
# Create (or refresh) a virtual environment of the project with every dependency.
#   tools/setup-venv.sh            -> .venv      with the "all" extra (everything but the Xi-cam GUI pins)
#   tools/setup-venv.sh gui        -> .venv-gui  with the "gui,test" extras (numpy<1.24 for Xi-cam 2.4.6's window)
# Re-running is cheap: nothing is installed again unless setup.py changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
case "${1:-all}" in
    all) venv=.venv; extras="all" ;;
    gui) venv=.venv-gui; extras="gui,test" ;;
    *) echo "usage: $0 [all|gui]" >&2; exit 2 ;;
esac
if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum setup.py | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # torch is pinned to the CPU build that lies on these machines' disk (see README for CUDA).
    "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
    "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi
