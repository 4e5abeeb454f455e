#!/bin/bash
# Row cleaning: rules, language ID, PII, toxicity (CPU), one shard per array task. Arguments are the stage's own flags
# (see docs/stages/clean.md or `python selectors/clean.py --help`); defaults also come from
# SFTKIT_INPUT, SFTKIT_OUTPUT, SFTKIT_SPLIT and SFTKIT_*_FIELD. Override any #SBATCH line on the
# sbatch command line or with sbatch's own variables (SBATCH_PARTITION, SBATCH_TIMELIMIT, ...).
#   sbatch slurm/run_clean.sh --input data/ --output results/clean.jsonl --pii mask
#   slurm/submit.sh clean --shards 8 -- --input data/ --output results/clean.jsonl --languages en,zh
#SBATCH --job-name=sftkit-clean
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=08:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage clean "$@"
