#!/bin/bash
# Difficulty selection (CPU, one job: the selection is global): picks rows by the difficulty scorer's
# --output (--scores) and joins them back to --input by id. Arguments are the stage's own flags.
#   sbatch slurm/run_difficulty_selector.sh --scores scores.jsonl --input seeds.jsonl --total-samples 5000
#SBATCH --job-name=sftkit-difficulty-selector
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=02:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage difficulty_selector "$@"
