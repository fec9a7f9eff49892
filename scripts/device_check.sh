#!/usr/bin/env bash
# GPU readiness check of t5eval (issue 15 §4, 27): bench --device cuda (fp32, with the train and pretrain
# measures and their MFU), bench --dtype bfloat16 rows, bf16 greedy, bf16 parity with
# transformers, a short `t5eval run --device cuda --dtype bfloat16`, torch.compile of the decoder step and
# transformers' static cache; one JSON (default device_check.json). Exits 2 with a one-line error without CUDA.
# Usage: scripts/device_check.sh [OUT.json] [--only STEP ...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-device_check.json}"
[ $# -gt 0 ] && shift
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python scripts/device_check.py --out "$out" "$@"
