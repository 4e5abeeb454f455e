#!/bin/bash
# Benchmark decontamination (CPU), one shard per array task (selectors/decontaminate.py): each task
# builds the small benchmark n-gram index and matches its rows; the merge job writes the clean (or
# flagged) rows and <output>.contaminated.jsonl.
#   slurm/submit.sh decontaminate --shards 8 -- --input seeds.jsonl --benchmark math500 --benchmark aime \
#       --output seeds.clean.jsonl
#SBATCH --job-name=sftkit-decontaminate
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage decontaminate "$@"
