#!/usr/bin/env bash
# The main job: install, run the quickstart sweep on built-in synthetic data with a local Ray,
# then write the Pareto table and figure. Everything lands in experiments/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
export RAY_USAGE_STATS_ENABLED=0
OUT="${AUTOEMBED_EXPERIMENTS:-$PWD/experiments}"
.venv/bin/autoembed sweep search_spaces/quickstart.yaml --storage-path "$OUT" --name quickstart "$@"
.venv/bin/autoembed report "$OUT/quickstart" --out "$OUT/quickstart/report"
echo "Report: $OUT/quickstart/report/report.md"
