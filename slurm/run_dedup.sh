#!/bin/bash
# Exact and near-duplicate removal (CPU), one shard per array task (selectors/dedup.py): each task
# hashes its rows (MinHash signatures and LSH band hashes beside its part); the merge job (slurm/submit.sh
# submits it) clusters the pairs over every shard and writes the kept rows in input order; with
# --merge-tasks M, the merge is a chain of arrays instead (pairs over M tasks, clusters, then per shard).
#   slurm/submit.sh dedup --shards 8 --merge-tasks 12 -- --input seeds.jsonl --output seeds.dedup.jsonl --verify
#SBATCH --job-name=sftkit-dedup
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage dedup "$@"
