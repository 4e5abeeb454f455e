#!/bin/bash
# Convert a results folder to Parquet, write its card and push it to the Hub (CPU, one job).
# The token comes from HF_TOKEN, keys.json or the login cache; it is never printed.
#   sbatch slurm/run_upload.sh --dataset_path results/processed_dataset --repo_id you/sft-set --license cc-by-4.0
#SBATCH --job-name=sftkit-upload
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage upload "$@"
