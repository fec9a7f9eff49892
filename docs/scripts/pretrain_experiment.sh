#!/usr/bin/env bash
# The small-scale analogue of the paper's Table 1 "no pre-training" row and of Table 4 (docs/pretrain.md).
# Usage (from the repository root): bash docs/scripts/pretrain_experiment.sh OUT_DIR [PRETRAIN_STEPS] [FINETUNE_STEPS]
# (defaults 150 and 600; a step is 32 sequences of 128 input tokens; rerunning skips finished runs)
# Pre-trains `tiny` three times on the shared unlabeled train text (span corruption, prefix LM, BERT-style,
# the same steps x 32 sequences of 128 input tokens), fine-tunes each and a random init on SST-2 with the
# same settings (packed rows, the default), and writes a report with 95% bootstrap intervals. Four jobs at a time
# (the random-init fine-tune and the three pre-train-then-fine-tune chains), one torch thread each.
set -euo pipefail
OUT=${1:?OUT_DIR}
PT_STEPS=${2:-150}
FT_STEPS=${3:-600}
SHARED=${T5EVAL_SHARED:-../shared}
VOCAB=$SHARED/vocab/t5_spiece.model
export PYTHONPATH=$PWD OMP_NUM_THREADS=1
mkdir -p "$OUT"
python docs/scripts/unlabeled_corpus.py "$SHARED/data" "$OUT/corpus.jsonl"

pretrain() {  # objective
  python -m t5eval pretrain --model tiny --init random --corpus "$OUT/corpus.jsonl" --vocab "$VOCAB" \
    --objective "$1" --steps "$PT_STEPS" --inputs-length 128 --batch-tokens 4096 --concat-docs 0 \
    --save-every 25 --log-every 25 --threads 1 --out "$OUT/pt_$1" > "$OUT/pt_$1.log" 2>&1
}
finetune() {  # name model [extra flags]
  local name=$1 model=$2
  shift 2
  python -m t5eval run sst2 --model "$model" "$@" --data-dir "$SHARED/data" --steps "$FT_STEPS" \
    --eval-every $((FT_STEPS / 2)) --batch-tokens 1024 --threads 1 --out "$OUT/ft_$name" > "$OUT/ft_$name.log" 2>&1
}

start=$(date +%s)
finetune random tiny --init random --vocab "$VOCAB" &
for objective in span_corruption prefix_lm bert_mlm; do
  (pretrain $objective && finetune $objective "$OUT/pt_$objective") &
done
wait
python -m t5eval report "$OUT/ft_random" "$OUT/ft_span_corruption" "$OUT/ft_prefix_lm" "$OUT/ft_bert_mlm" \
  --out "$OUT/report.md"
echo "wall time: $(( $(date +%s) - start )) s"
