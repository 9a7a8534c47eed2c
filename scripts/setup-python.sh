#!/usr/bin/env bash
# Creates .venv with the Python packages kiln's tests and tools use (idempotent).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
if [ ! -x "$venv/bin/python3" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python3" -c "import numpy, onnx, pytest" 2>/dev/null; then
  "$venv/bin/python3" -m pip install --quiet --upgrade pip
  "$venv/bin/python3" -m pip install --quiet -r "$root/scripts/requirements-test.txt"
fi
