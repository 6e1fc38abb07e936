#!/usr/bin/env bash
# Recipe ablation on CUHK03 (docs/training.md): the shipped model's recipe against each of the
# authors' settings, same seed, same data, same number of steps; validation on every held-out
# identity at the end. Usage: scripts/ablation.sh BIN DATASET OUTROOT [STEPS]
set -euo pipefail
bin=$1; data=$2; root=$3; steps=${4:-1500}
common=(train --backend cpu --dataset "$data" --batch-size 32 --max-steps "$steps"
        --validate-every "$steps" --checkpoint-every 500 --seed 0 --json)
old=(--lr 0.01 --dampening 0 --positives cross-camera --init he --input-norm imagenet)
declare -A runs=(
  [old]="${old[*]}"
  [dampening]="--lr 0.05 --dampening 0.9 --positives cross-camera --init he --input-norm imagenet"
  [positives-all]="--lr 0.01 --dampening 0 --positives all --init he --input-norm imagenet"
  [torch-init-unit-input]="--lr 0.01 --dampening 0 --positives cross-camera --init torch --input-norm none"
  [authors]="--lr 0.05 --dampening 0.9 --positives all --init torch --input-norm none"
)
for name in old authors positives-all dampening torch-init-unit-input; do
  out="$root/$name"
  if [ -f "$out/.done" ]; then continue; fi
  mode=(--overwrite); [ -d "$out/checkpoint" ] && mode=(--resume)
  # shellcheck disable=SC2086
  if [ "${mode[0]}" = --resume ]; then
    "$bin" train --backend cpu --out "$out" --resume --max-steps "$steps" --validate-every "$steps" --json > "$out.resume.log" 2>&1
  else
    "$bin" "${common[@]}" --out "$out" ${runs[$name]} "${mode[@]}" > "$out.log" 2>&1
  fi
  touch "$out/.done"
done
