#!/usr/bin/env bash
# Rerun the README's quick start (its exact command, which writes results/quickstart_sst2), the example
# report and the kill -9 resume recipe, then rewrite the figures README.md and docs/quickstart.md quote.
# Takes a few minutes on 2 CPU cores. Usage: scripts/refresh_docs.sh   (from anywhere; needs ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
t5eval() { python -m t5eval "$@"; }
shared=${T5EVAL_SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the quick start, exactly as README.md writes it ---
mapfile -t args < <(python scripts/refresh_docs.py command)
[ "${#args[@]}" -gt 2 ] || { echo "could not read the quick-start command from README.md" >&2; exit 1; }
load=$(cut -d' ' -f1 /proc/loadavg)
SECONDS=0
t5eval "${args[@]}" --overwrite 2>&1 | tee "$work/quickstart.log"  # the command names --out results/quickstart_sst2
wall=$SECONDS
t5eval score sst2 --predictions results/quickstart_sst2/glue_sst2_v002/predictions.jsonl \
  --data-dir "$shared/data" | tee "$work/score.log"

# --- the example report ---
t5eval report results/quickstart_sst2 --out reports/examples/quickstart_sst2.md

# --- the kill -9 recipe of "Interrupted runs resume" ---
demo=$work/resume_demo
resume=(run sst2 --model tiny --init random --vocab "$shared/vocab/t5_spiece.model" --data-dir "$shared/data"
        --steps 400 --eval-every 200 --batch-tokens 1024 --threads 1 --out "$demo")
t5eval "${resume[@]}" > "$work/killed.log" 2>&1 &
pid=$!
until [ -e "$demo/glue_sst2_v002/checkpoint.pt" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the run ended before its step-200 checkpoint" >&2; exit 1; }
  sleep 0.2
done
kill -9 "$pid"
wait "$pid" || true
echo "killed at $(date -u +%H:%M:%S) after the step-200 checkpoint appeared; running the same command again"
t5eval "${resume[@]}" 2>&1 | tee "$work/resume.log"

python scripts/refresh_docs.py rewrite --run results/quickstart_sst2 --log "$work/quickstart.log" \
  --wall "$wall" --load "$load" --score "$work/score.log" --report reports/examples/quickstart_sst2.md \
  --resume-log "$work/resume.log"
