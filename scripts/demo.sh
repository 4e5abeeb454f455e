#!/usr/bin/env bash
# The demo, on the bundled synthetic OpenMathReasoning data and a tiny model built offline:
# label filter -> dedup -> decontamination -> length selection -> generation from seeds -> LLM filter ->
# difficulty scoring and
# selection -> dataset folder + dry-run upload.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=results/demo
DATA=data/demo/openmath_demo.jsonl
MODEL=$OUT/tiny-model
SMALL_MODEL=$OUT/tiny-model-small
TINY=(--dtype fp32 --engine hf)

echo "== 1. label filter: keep problems with pass rate <= 0.6 (2 local shards, merged)"
slurm/submit.sh --local label_filter --shards 2 -- --input "$DATA" --filter-by-pass-rate 0.6 \
    --save-per-iteration 500 --output "$OUT/filtered.jsonl"

echo "== 1b. exact and near duplicates out (the demo data has planted ones; 2 local shards, clustered in the merge)"
slurm/submit.sh --local dedup --shards 2 -- --input "$OUT/filtered.jsonl" --verify --output "$OUT/deduped.jsonl"

echo "== 1c. benchmark decontamination against a small bundled benchmark (2 local shards)"
slurm/submit.sh --local decontaminate --shards 2 -- --input "$OUT/deduped.jsonl" \
    --benchmark data/benchmarks/demo_bench.jsonl:problem --output "$OUT/clean.jsonl"

echo "== 2. length selection: 300 seeds favouring long solutions"
"$PY" selectors/length_selector.py --input "$OUT/clean.jsonl" --total_samples 300 --num_bins 6 \
    --curve_sharpness 2.0 --output "$OUT/selected_seeds.json"

echo "== 3. a tiny chat model, built offline (~15 s)"
[ -f "$MODEL/config.json" ] || "$PY" -m sftkit.models.tiny --output "$MODEL"

echo "== 4. new problems from the first 12 seeds (a tiny model: generations it cannot parse go to the rejects file)"
"$PY" hpc/generate.py --model "$MODEL" "${TINY[@]}" --input_file "$OUT/selected_seeds.json" \
    --max-samples 12 --n 2 --max_tokens 64 --temperature 0.5 --output_file "$OUT/generated.jsonl"

echo "== 5. solve-and-judge filter on the first 12 seeds: 2 solutions each, math-verify, then the judge"
"$PY" hpc/filter.py --input "$OUT/selected_seeds.json" --max-samples 12 --samples 2 \
    --inference-model "$MODEL" --inference-engine hf --inference-dtype fp32 --max-tokens 48 --temperature 0.7 \
    --judgement-model "$MODEL" --judgement-engine hf --judgement-dtype fp32 --judge-max-tokens 24 \
    --max-pass-rate 0.5 --output "$OUT/llm_filtered.jsonl"

echo "== 6. difficulty of the first 40 seeds: log-probability + 2 tiny models x 2 answers, 2 local shards, IRT fit"
echo "   (tiny models solve almost none of these, so here difficulty_z comes mostly from the log-probability)"
[ -f "$SMALL_MODEL/config.json" ] || "$PY" -m sftkit.models.tiny --output "$SMALL_MODEL" --hidden 64 --layers 1 --seed 1
slurm/submit.sh --local difficulty_scorer --shards 2 -- --input "$OUT/selected_seeds.json" --max-samples 40 \
    --primary-model "$MODEL" --ensemble-models "$SMALL_MODEL" "${TINY[@]}" --samples 2 --max-new-tokens 32 \
    --max-sequence-length 512 --max-input-length 256 --output "$OUT/difficulty.jsonl"

echo "== 7. pick 12 of them by difficulty, leaning hard, with every original field joined back"
"$PY" selectors/difficulty_selector.py --scores "$OUT/difficulty.jsonl" --input "$OUT/selected_seeds.json" \
    --total-samples 12 --num-bins 3 --target hard --output "$OUT/difficulty_selected.jsonl"

echo "== 8. a training-ready dataset folder: messages with a validation split, Parquet, full card, dry-run upload"
DS=$OUT/dataset
rm -rf "$DS"   # rebuilt from the stage outputs each run: nothing stale from an earlier demo
mkdir -p "$DS/filtered" "$DS/seeds" "$DS/generated" "$DS/llm_filtered" "$DS/hard_seeds"
cp "$OUT/filtered.jsonl" "$OUT/filtered.jsonl.stats.json" "$DS/filtered/"
cp "$OUT/selected_seeds.json" "$OUT/selected_seeds.json.stats.json" "$DS/seeds/"
cp "$OUT/generated.jsonl" "$OUT/generated.jsonl.stats.json" "$DS/generated/"
cp "$OUT/llm_filtered.jsonl" "$OUT/llm_filtered.jsonl.stats.json" "$DS/llm_filtered/"   # the kept rows: training data
cp "$OUT/difficulty_selected.jsonl" "$OUT/difficulty_selected.jsonl.stats.json" "$DS/hard_seeds/"
"$PY" upload/upload_data.py --dataset_path "$DS" --repo_id your-username/sftkit-demo --license cc-by-4.0 \
    --tags sft math synthetic --format messages --val-fraction 0.2 --tokenizer "$MODEL" --dry-run

echo "demo outputs in $OUT/: filtered.jsonl, deduped.jsonl (+ .dups.jsonl, deduped.clusters.png),"
echo "clean.jsonl (+ .contaminated.jsonl), selected_seeds.json (+ .lengths.png), generated.jsonl,"
echo "llm_filtered.jsonl (+ .full.jsonl), difficulty.jsonl (+ .responses.jsonl, .difficulty.png),"
echo "difficulty_selected.jsonl, dataset/ (train/validation Parquet per config, README.md card, plots/)"
