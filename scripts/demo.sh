#!/usr/bin/env bash
# The demo: label filter, then length selection, on the bundled synthetic OpenMathReasoning data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=results/demo
DATA=data/demo/openmath_demo.jsonl

echo "== 1. label filter: keep problems with pass rate <= 0.6 (sharded run of 2, merged)"
for i in 0 1; do
  "$PY" selectors/label_filter.py --input "$DATA" --filter-by-pass-rate 0.6 \
      --shard "$i/2" --save-per-iteration 500 --output "$OUT/filtered.jsonl"
done
"$PY" hpc/merge_shards.py --output "$OUT/filtered.jsonl"

echo "== 2. length selection: 300 seeds favouring long solutions"
"$PY" selectors/length_selector.py --input "$OUT/filtered.jsonl" --total_samples 300 --num_bins 6 \
    --curve_sharpness 2.0 --output "$OUT/selected_seeds.json"

echo "== 3. a ready-to-push dataset folder: Parquet, dataset card, dry-run upload"
DS=$OUT/dataset
mkdir -p "$DS/filtered" "$DS/seeds"
cp "$OUT/filtered.jsonl" "$OUT/filtered.jsonl.stats.json" "$DS/filtered/"
cp "$OUT/selected_seeds.json" "$OUT/selected_seeds.json.stats.json" "$DS/seeds/"
"$PY" upload/upload_data.py --dataset_path "$DS" --repo_id your-username/sftkit-demo --license cc-by-4.0 \
    --tags sft math synthetic --dry-run

echo "demo outputs in $OUT/: filtered.jsonl, selected_seeds.json, selected_seeds.lengths.png, dataset/ (README.md)"
