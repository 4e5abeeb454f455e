#!/bin/bash
# The predecessor's one-liner: submit a length selection of N rows from a dataset.
#   slurm/universal_length_selector.sh [--local] "dataset-name" 5000 [more sbatch options or stage flags...]
# Stage flags (starting with --, e.g. --output, --split) go to the selector; -c/--mem/... to sbatch.
# --local runs it here, without Slurm (slurm/submit.sh --local).
set -euo pipefail
mode=()
if [ "${1:-}" = --local ]; then mode=(--local); shift; fi
[ $# -ge 2 ] || { echo "usage: $0 [--local] DATASET TOTAL_SAMPLES [sbatch options] [stage flags]" >&2; exit 2; }
dataset=$1 total=$2; shift 2
sbatch_opts=() stage=()
while [ $# -gt 0 ]; do
  case "$1" in
    -c|-p|-t|-A|-q) sbatch_opts+=("$1" "$2"); shift ;;
    --mem=*|--time=*|--partition=*|--account=*|--qos=*|--cpus-per-task=*) sbatch_opts+=("$1") ;;
    --local) mode=(--local) ;;
    *) stage+=("$1") ;;
  esac
  shift
done
exec "$(dirname "$0")/submit.sh" "${mode[@]}" length_selector "${sbatch_opts[@]}" -- --input "$dataset" --total_samples "$total" \
  --output "results/$(basename "$dataset")_length_selected.json" "${stage[@]}"
