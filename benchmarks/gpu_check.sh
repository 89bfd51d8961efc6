#!/usr/bin/env bash
# One command for a fresh GPU machine (H100/H200): from the repository root,
#   benchmarks/gpu_check.sh [--steps 20] [--limit 75] [--text FILE ...]
# Uses the machine's own python and torch (PYTHON=... to choose); installs nothing, reaches no
# network. Prints PASS/FAIL per check and MFU lines; under 4 minutes on one H100/H200.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PYTHON" -m benchmarks.gpu_check "$@"
