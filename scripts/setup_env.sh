#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the project into it.
# Usage: scripts/setup_env.sh [EXTRAS]   e.g. scripts/setup_env.sh test
# GPU machines: set AUTOEMBED_TORCH_INDEX=https://download.pytorch.org/whl/cu128 (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${AUTOEMBED_VENV:-.venv}"
PY="${PYTHON:-python3}"
extras="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
if [ -n "${AUTOEMBED_TORCH_INDEX:-}" ]; then
  "$VENV/bin/python" -m pip install -q --index-url "$AUTOEMBED_TORCH_INDEX" torch==2.13.0
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
"$VENV/bin/python" -m pip install -q -e "$spec"
if [ "$extras" = "test" ]; then
  # The notebooks are executed by the tests: make this venv's kernel known to Jupyter.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
fi
echo "$VENV ready: $("$VENV/bin/python" -c 'import torch, ray; print("torch", torch.__version__, "ray", ray.__version__)')"
