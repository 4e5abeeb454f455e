#!/bin/bash
# Half-Gaussian length selection (CPU, one job: the selection is global). Arguments are the
# stage's own flags; defaults also come from SFTKIT_INPUT, SFTKIT_OUTPUT, SFTKIT_SPLIT, SFTKIT_*_FIELD.
#   sbatch slurm/run_length_selector.sh --input nvidia/OpenMathReasoning --split cot --total_samples 10000
#SBATCH --job-name=sftkit-length-selector
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_stage length_selector "$@"
