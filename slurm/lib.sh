# Shared by every slurm/run_*.sh (sourced after ROOT is set). Nothing here names a user, node or partition.
#
# Environment (all optional):
#   SFTKIT_CONDA_ENV        conda env to activate                 (default: none)
#   SFTKIT_VENV             venv folder to activate               (default: $ROOT/.venv if it exists)
#   SFTKIT_MODULES          modules to `module load` first         (default: none), e.g. "cuda/12.4"
#   SFTKIT_PYTHON           python to run                          (default: python of the env)
#   SFTKIT_WORKERS_PER_TASK workers per task, each with its own GPUs and shard   (default: 1)
#   SFTKIT_GPUS_PER_WORKER  GPUs each worker gets   (default: the task's GPUs / workers), e.g. 4 x TP2 on 8 GPUs
set -euo pipefail

sftkit_activate() {
  if [ -n "${SFTKIT_MODULES:-}" ]; then
    # shellcheck disable=SC2086  # a list of module names
    module load $SFTKIT_MODULES
  fi
  if [ -n "${SFTKIT_CONDA_ENV:-}" ]; then
    # shellcheck disable=SC1091
    source "$(conda info --base)/etc/profile.d/conda.sh"
    conda activate "$SFTKIT_CONDA_ENV"
  elif [ -n "${SFTKIT_VENV:-}" ]; then
    # shellcheck disable=SC1091
    source "$SFTKIT_VENV/bin/activate"
  elif [ -f "$ROOT/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$ROOT/.venv/bin/activate"
  fi
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  PYTHON=${SFTKIT_PYTHON:-python}
}

sftkit_banner() {
  local log=""
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    log=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *StdOut=//p' | head -1)
  fi
  echo "[sftkit] $(date '+%F %T') host=$(hostname) job=${SLURM_JOB_ID:-local} task=${SLURM_ARRAY_TASK_ID:--}" \
       "restart=${SLURM_RESTART_COUNT:-0} gpus=${CUDA_VISIBLE_DEVICES:-none} log=${log:-stdout}"
}

_SFTKIT_PIDS=()
_sftkit_forward() {  # pass a stop signal on: each worker checkpoints and exits with code 75
  echo "[sftkit] received $1, asking ${#_SFTKIT_PIDS[@]} worker(s) to checkpoint"
  kill -"$1" "${_SFTKIT_PIDS[@]}" 2>/dev/null || true
}

# sftkit_stage STAGE ARGS...: run the stage's entry script with ARGS in SFTKIT_WORKERS_PER_TASK
# workers, each with its own GPU subset and shard. Waits for all; fails if any fails. A worker
# stopped by USR1 (sent before the time limit) saves a checkpoint and exits 75; the task then
# requeues itself. On TERM (preemption, scontrol requeue, scancel) workers save and exit 143,
# and Slurm, which sent it, decides whether the task comes back.
sftkit_stage() {
  local stage=$1; shift
  sftkit_activate
  sftkit_banner
  local script workers gpus=() per w subset rc status=0 requeue=0
  script=$("$PYTHON" -m sftkit.orchestrate script "$stage")
  workers=${SFTKIT_WORKERS_PER_TASK:-1}
  IFS=, read -ra gpus <<< "${CUDA_VISIBLE_DEVICES:-}"
  per=${SFTKIT_GPUS_PER_WORKER:-$(( ${#gpus[@]} / workers ))}
  if [ "${#gpus[@]}" -gt 0 ] && [ $(( per * workers )) -gt "${#gpus[@]}" ]; then
    echo "[sftkit] $workers workers x $per GPUs needs more than the ${#gpus[@]} GPUs of this task" >&2
    return 1
  fi
  trap '_sftkit_forward USR1' USR1
  trap '_sftkit_forward TERM' TERM
  _SFTKIT_PIDS=()
  for (( w = 0; w < workers; w++ )); do
    subset=$(IFS=,; echo "${gpus[*]:$(( w * per )):$per}")
    (
      if [ "$workers" -gt 1 ]; then export SFTKIT_WORKER_INDEX=$w SFTKIT_WORKERS_PER_TASK=$workers; fi
      if [ -n "$subset" ]; then export CUDA_VISIBLE_DEVICES=$subset; fi
      exec "$PYTHON" "$ROOT/$script" "$@"
    ) &
    _SFTKIT_PIDS+=($!)
    echo "[sftkit] worker $w: pid $! gpus=${subset:-none}"
  done
  for pid in "${_SFTKIT_PIDS[@]}"; do
    while true; do
      rc=0; wait "$pid" || rc=$?
      # a trapped signal interrupts `wait` with 128+n while the worker still runs: wait again
      if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
      break
    done
    if [ "$rc" -eq 75 ]; then requeue=1; elif [ "$rc" -ne 0 ]; then status=$rc; fi
    echo "[sftkit] worker pid $pid exited $rc"
  done
  trap - USR1 TERM
  if [ "$status" -ne 0 ]; then return "$status"; fi
  if [ "$requeue" -eq 1 ]; then
    if [ -n "${SLURM_JOB_ID:-}" ]; then
      # an array task by ARRAY_TASK: the bare job id of task 0 would requeue the whole array
      local me=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}
      echo "[sftkit] progress saved; requeueing ${me:-$SLURM_JOB_ID}"
      scontrol requeue "${me:-$SLURM_JOB_ID}" || true  # already requeued when Slurm itself stopped us
    fi
    return 0
  fi
  if [ "$workers" -gt 1 ] && [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then  # one job, several workers: merge here
    "$PYTHON" -m sftkit.orchestrate merge "$stage" "${SFTKIT_NUM_SHARDS:-$workers}" -- "$@"
  fi
}
