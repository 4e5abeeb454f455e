#!/bin/bash
# Meaning-level duplicate removal, one shard per array task (selectors/semdedup.py): each task embeds its
# rows (a GPU for --embedding-backend vllm or sentence-transformers; none for model2vec or
# --embeddings-field) and keeps the float16 vectors beside its part; the merge job (slurm/submit.sh
# submits it) partitions every vector by k-means on CPU, joins the pairs at or above --threshold and writes
# the kept rows in input order.
#   slurm/submit.sh semdedup --shards 8 -- --input data/ --embedding-model models/bge-small --output out.jsonl
#SBATCH --job-name=sftkit-semdedup
#SBATCH --cpus-per-task=4
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage semdedup "$@"
