#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the project into it, at the
# versions of requirements/cpu.lock (the ones the tests passed with; refresh: scripts/lock.sh).
# Usage: scripts/setup_env.sh [--latest] [EXTRAS]   e.g. scripts/setup_env.sh test
#   --latest: the drift check. Its own venv (.venv-latest), no lock: the newest versions that
#             pyproject.toml allows, upgraded on every call (scripts/test.sh --latest runs the tests so).
# GPU machines: set AUTOEMBED_TORCH_INDEX=https://download.pytorch.org/whl/cu128 (see README):
# torch==2.13.0 comes from that index, everything else from the same lock.
set -euo pipefail
cd "$(dirname "$0")/.."
latest=0
if [ "${1:-}" = "--latest" ]; then latest=1; shift; fi
VENV="${AUTOEMBED_VENV:-$([ $latest = 1 ] && echo .venv-latest || echo .venv)}"
PY="${PYTHON:-python3}"
LOCK=requirements/cpu.lock
extras="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
pip=("$VENV/bin/python" -m pip install -q)
spec="."
[ -n "$extras" ] && spec=".[$extras]"
if [ $latest = 1 ]; then
  "${pip[@]}" --upgrade --upgrade-strategy eager -e "$spec"
else
  constraints="$LOCK"
  if [ -n "${AUTOEMBED_TORCH_INDEX:-}" ]; then
    "${pip[@]}" --index-url "$AUTOEMBED_TORCH_INDEX" torch==2.13.0
    constraints="$(mktemp)"
    trap 'rm -f "$constraints"' EXIT
    grep -v '^torch==' "$LOCK" >"$constraints"  # keep the CUDA build just installed
  fi
  "${pip[@]}" -c "$constraints" -e "$spec"
fi
if [ "$extras" = "test" ]; then
  # The notebooks are executed by the tests: make this venv's kernel known to Jupyter.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
fi
echo "$VENV ready: $("$VENV/bin/python" -c 'import torch, ray, optuna; print("torch", torch.__version__, "ray", ray.__version__, "optuna", optuna.__version__)')"
