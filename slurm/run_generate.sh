#!/bin/bash
# Generate new problems from seeds on GPU nodes, one shard per array task (hpc/generate.py).
# Arguments are the stage's own flags; SFTKIT_MODEL, SFTKIT_INPUT, SFTKIT_OUTPUT also set them.
# Tensor parallel: --tp N with --gres=gpu:N; several workers per node: submit.sh --workers-per-task W
# (each worker gets its own GPUs: e.g. 4 x TP2 on 8 GPUs is --workers-per-task 4 --gres=gpu:8 -- --tp 2).
# A worker needs about 2 CPUs + 2 per GPU and 16G, the task once more the weights' size (docs/slurm.md).
#   slurm/submit.sh generate --shards 8 --gres=gpu:2 --mem=96G -- --model Qwen/Qwen3-32B --tp 2 \
#       --input seeds.json --output gen.jsonl
#SBATCH --job-name=sftkit-generate
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
sftkit_stage generate "$@"
