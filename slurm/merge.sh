#!/bin/bash
# Merge job of a sharded stage (submitted by slurm/submit.sh with --dependency=afterany):
#   merge.sh STAGE NUM_SHARDS -- <the stage's arguments>
# It checks completeness itself: with missing shards it fails, names them, and prints the
# command that reruns only those ($SFTKIT_RESUBMIT). SFTKIT_MERGE_POLL: seconds between checks
# for requeued tasks of the array (default 30). SFTKIT_MERGE_STEP: one step of a partitioned merge
# (submit.sh --merge-tasks), this array task's share of it.
#SBATCH --job-name=sftkit-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=logs/%x-%j.out
ROOT=${SFTKIT_ROOT:-$(scontrol show job "${SLURM_JOB_ID:-none}" 2>/dev/null | sed -n 's|^ *Command=\([^ ]*\)/slurm/[^/ ]*.*$|\1|p')}
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_activate
sftkit_banner
# afterany is satisfied when a task is requeued (preempted, or stopped before its time limit), so
# wait here until no task of the array is queued or running any more
if [ -n "${SFTKIT_ARRAY_JOB:-}" ]; then
  while [ -n "$(squeue -h -r -j "$SFTKIT_ARRAY_JOB" -o %i 2>/dev/null)" ]; do
    echo "[sftkit] tasks of array $SFTKIT_ARRAY_JOB are requeued or running; waiting"
    sleep "${SFTKIT_MERGE_POLL:-30}"
  done
fi
step=()
if [ -n "${SFTKIT_MERGE_STEP:-}" ]; then step=(--merge-step "$SFTKIT_MERGE_STEP" --merge-task "${SLURM_ARRAY_TASK_ID:-0}"); fi
if ! "$PYTHON" -m sftkit.orchestrate merge "$@" "${step[@]}"; then
  echo "[sftkit] merge failed. To rerun only the missing shards, then merge again:"
  echo "  ${SFTKIT_RESUBMIT:-slurm/submit.sh STAGE --shards N --missing-only -- <the same stage arguments>}"
  exit 1
fi
