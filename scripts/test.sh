#!/usr/bin/env bash
# Install the project with its test extras and run the whole test suite (slow tests included).
# Pass pytest options through, e.g. scripts/test.sh -m "not slow" -x
# scripts/test.sh --latest ...: the drift check, in .venv-latest with the newest versions
# pyproject.toml allows instead of requirements/cpu.lock (see scripts/setup_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
setup=(scripts/setup_env.sh)
if [ "${1:-}" = "--latest" ]; then shift; venv=.venv-latest; setup+=(--latest); fi
AUTOEMBED_VENV="$venv" "${setup[@]}" test
export RAY_USAGE_STATS_ENABLED=0
"$venv/bin/ruff" check .
"$venv/bin/python" -m pytest -q "$@"
