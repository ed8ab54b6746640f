#!/usr/bin/env bash
# Install the project with its test extras and run the whole test suite (slow tests included).
# Pass pytest options through, e.g. scripts/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh test
export RAY_USAGE_STATS_ENABLED=0
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
