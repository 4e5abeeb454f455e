#!/bin/bash
# Difficulty scoring on GPU nodes, one shard per array task (hpc/difficulty_scorer.py): gold-answer
# log-probability under the primary model and --samples answers from each ensemble model, one model
# loaded at a time. The merge job (slurm/submit.sh submits it) fits IRT over every item at once.
# Arguments are the stage's own flags; SFTKIT_MODEL (the primary), SFTKIT_INPUT, SFTKIT_OUTPUT also set them.
#   slurm/submit.sh difficulty_scorer --shards 8 -- --input seeds.jsonl --output scores.jsonl \
#       --primary-model microsoft/Phi-4-mini-reasoning --ensemble-models Qwen/Qwen3-1.7B Qwen/Qwen3-4B
# One GPU per shard suits models up to 8B; several workers per node: submit.sh --workers-per-task W.
#SBATCH --job-name=sftkit-difficulty
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
sftkit_stage difficulty_scorer "$@"
