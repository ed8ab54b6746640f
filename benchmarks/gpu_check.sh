#!/usr/bin/env bash
# GPU check, one command, one JSON file of figures:
#  1. the device (torch, CUDA, name, memory; nvidia-smi where present);
#  2. benchmarks/ceiling.py: GEMM FLOP/s of DeepFM's and AutoInt+'s dense shapes and the
#     embedding gather/scatter bandwidth, fp32 and bf16, and FM/DeepFM/AutoInt+ training steps
#     as a fraction of that ceiling (MovieLens-1M and Criteo-shaped vocabularies);
#  3. benchmarks/criteo_scale.py: FM with a uniform embedding and a PEP search (feature_dim; both
#     optimizer modes, row-sparse lazy and the reference's dense Adam) on Criteo-shaped
#     synthetic data: samples/s, PEP's step-time ratios, full-Criteo extrapolation.
# Needs only torch (2.11+), numpy, pandas and pyarrow: no Ray, Optuna or installed project
# (the project is put on PYTHONPATH). About 3-4 minutes on a GPU with the default 2M rows.
#
#   benchmarks/gpu_check.sh [--device cuda|cpu] [--json FILE] [--rows N] [criteo_scale args...]
#
# --device cpu runs the same on the CPU (use small --rows, e.g. 200000); --json defaults to
# gpu_check.json in the current folder (or $OUT/gpu_check.json where $OUT is set).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# $PYTHON if set, else the project's venv, else python3
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  [ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
fi
DEVICE=cuda
JSON="${OUT:+$OUT/}gpu_check.json"
ROWS=2000000
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --json) JSON="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    *) REST+=("$1"); shift ;;
  esac
done
JSON="$(cd "$(dirname "$JSON")" && pwd)/$(basename "$JSON")"
rm -f "$JSON"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" OMP_WAIT_POLICY=PASSIVE
cd "$ROOT"

if ! "$PYTHON" - "$DEVICE" "$JSON" <<'EOF'
import json, os, platform, sys
import torch
device, path = sys.argv[1], sys.argv[2]
info = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "cpus": os.cpu_count()}
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"gpu_check: no CUDA device visible to torch {torch.__version__} "
                 f"(CUDA build: {torch.version.cuda or 'none'}); install a CUDA build of torch "
                 "(README, 'GPU install') and run this on a machine with an NVIDIA GPU, "
                 "or pass --device cpu")
    props = torch.cuda.get_device_properties(0)
    info.update(name=props.name, memory_gib=props.total_memory / 2**30,
                multiprocessors=props.multi_processor_count)
print("gpu_check:", ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
with open(path, "w") as fh:
    json.dump({"environment": info}, fh, indent=1)
EOF
then
  exit 1
fi
if [ "${DEVICE%%:*}" = cuda ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu \
    --format=csv,noheader
fi
THREADS=$("$PYTHON" -c 'import os; print(min(os.cpu_count() or 2, 16))')
for shape in ml1m criteo; do
  "$PYTHON" benchmarks/ceiling.py --device "$DEVICE" --threads "$THREADS" --shape "$shape" \
    --json "$JSON"
done
"$PYTHON" benchmarks/criteo_scale.py --device "$DEVICE" --rows "$ROWS" --preprocess-rows 0 \
  --threads "$THREADS" --pep-modes sparse_lazy,dense --json "$JSON" \
  --cache-dir "$(mktemp -d -t gpu-check-data-XXXX)" ${REST[@]+"${REST[@]}"}
echo "gpu_check: figures in $JSON"
