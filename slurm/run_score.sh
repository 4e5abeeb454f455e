#!/bin/bash
# Rubric scoring by LLM judges on GPU nodes, one shard per array task (hpc/score.py); the merge job
# (hpc/score.py --merge) writes the summary over every shard. Arguments are the stage's own flags.
# Judges load one at a time on the task's GPUs. Tensor parallel: --judgement-tp N with --gres=gpu:N;
# several workers per node: submit.sh --workers-per-task W, each worker with its own GPU subset. A worker
# needs about 2 CPUs + 2 per GPU and 16G, the task once more the weights' size (docs/slurm.md).
# Judges too big for the task: a server job (--server MODEL, one judge model) and no GPU here:
#   slurm/submit.sh score --shards 8 --gres=gpu:1 -- --judgement-model Qwen/Qwen3-8B \
#       --judgement-model google/gemma-3-12b-it --rubric rubrics/sft_five.yaml --min-score 0.7 --min-votes 2 \
#       --input pairs.jsonl --output scored.jsonl
#SBATCH --job-name=sftkit-score
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
sftkit_stage score "$@"
