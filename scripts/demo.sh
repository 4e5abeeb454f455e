#!/usr/bin/env bash
# The demo, on the bundled synthetic OpenMathReasoning data and two tiny models built offline: the stages are
# recipes/demo.yaml (label filter -> dedup -> decontamination -> length selection -> generation from seeds ->
# LLM filter -> difficulty scoring and selection -> dataset folder + dry-run upload), run here with the local
# executor; this script builds the models first and lists the outputs after.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=results/demo
MODEL=$OUT/tiny-model
SMALL_MODEL=$OUT/tiny-model-small

echo "== tiny chat models for the generation, filter and difficulty stages, built offline (~15 s each)"
[ -f "$MODEL/config.json" ] || "$PY" -m sftkit.models.tiny --output "$MODEL"
[ -f "$SMALL_MODEL/config.json" ] || "$PY" -m sftkit.models.tiny --output "$SMALL_MODEL" --hidden 64 --layers 1 --seed 1

# the generation step's model: completions a reasoning model would write for the demo's seeds, replayed
# (a model trained for seconds writes none worth reading); the stage finds it through its rendezvous file
mkdir -p "$OUT"
"$PY" -m sftkit.models.replay_server data/demo/generate_replay.json 0 "$OUT/generate_replay.log.jsonl" \
  --rendezvous "$OUT/.generate.server.json" --model demo-replay &
REPLAY=$!
trap 'kill $REPLAY 2>/dev/null || true' EXIT

rm -rf "$OUT/dataset"  # the upload stage rebuilds it from the stage outputs each run: nothing stale
slurm/submit.sh pipeline recipes/demo.yaml --local

echo "demo outputs in $OUT/: filtered.jsonl, deduped.jsonl (+ .dups.jsonl, deduped.clusters.png),"
echo "clean.jsonl (+ .contaminated.jsonl), selected_seeds.json (+ .lengths.png), generated.jsonl,"
echo "llm_filtered.jsonl (+ .full.jsonl), difficulty.jsonl (+ .responses.jsonl, .difficulty.png),"
echo "difficulty_selected.jsonl, dataset/ (train/validation Parquet per config, README.md card, plots/)"
