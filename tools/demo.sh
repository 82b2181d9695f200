#!/usr/bin/env bash
# Set everything up, then run the demo: simulate, degrade, classify, print a table, write a montage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-venv.sh
exec .venv/bin/gisaxs-cnn demo "$@"
