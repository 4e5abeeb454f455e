#!/bin/bash
# LLM solve-and-judge filter on GPU nodes, one shard per array task (hpc/filter.py, the
# predecessor's OpenMathReasoningFiltering). Arguments are the stage's own flags.
# Tensor parallel: --inference-tp N (and --judgement-tp) with --gres=gpu:N; several workers per node:
# submit.sh --workers-per-task W, each worker with its own GPU subset. A worker needs about 2 CPUs + 2 per
# GPU and 16G, the task once more the weights' size (docs/slurm.md, "What a worker needs").
#   slurm/submit.sh filter --shards 8 --gres=gpu:2 --mem=96G -- --inference-model Qwen/Qwen3-32B --inference-tp 2 \
#       --judgement-model Qwen/Qwen3-32B --judgement-tp 2 --input problems.jsonl --output kept.jsonl
#SBATCH --job-name=sftkit-filter
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage filter "$@"
