#!/usr/bin/env bash
# GPU check: FM with a uniform embedding and a PEP search (feature_dim; both optimizer modes,
# row-sparse lazy and the reference's dense Adam) on Criteo-shaped synthetic data, on CUDA;
# prints samples/s of each and PEP's step-time ratios (benchmarks/criteo_scale.py --device
# cuda). About 5 minutes with the default 2M rows, data generation included. Extra arguments
# go to criteo_scale.py (e.g. --rows 5000000).
#
#   benchmarks/gpu_check.sh [--rows N] [--steps N] ...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python

if ! "$PYTHON" - <<'EOF'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: no CUDA device visible to torch {torch.__version__} "
             f"(CUDA build: {torch.version.cuda or 'none'}); install a CUDA build of torch "
             "(README, 'GPU install') and run this on a machine with an NVIDIA GPU")
name = torch.cuda.get_device_name(0)
total = torch.cuda.get_device_properties(0).total_memory / 2**30
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}: {name}, {total:.0f} GiB")
EOF
then
    exit 1
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu \
        --format=csv,noheader
fi
exec "$PYTHON" benchmarks/criteo_scale.py --device cuda --rows 2000000 --preprocess-rows 0 \
    --pep-modes sparse_lazy,dense "$@"
