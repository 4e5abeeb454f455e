# Shared by every slurm/run_*.sh (sourced after ROOT is set). Nothing here names a user, node or partition.
#
# Which Python runs the stage: the first that applies (the job log's second line names it):
#   1. SFTKIT_CONDA_ENV     a conda env to activate, by name or path    } setting both is an error
#      SFTKIT_VENV          a venv folder to activate                   }
#   2. the environment active where you submitted (sbatch passes the submitting shell's environment on
#      unless --export says otherwise): VIRTUAL_ENV, else CONDA_PREFIX unless it is conda's base env
#      (`conda init` activates base in every shell, so an active base says nothing about the job)
#   3. $ROOT/.venv, only when none of the above: it is what `make test` builds, with CPU torch
#   4. whatever `python` is first on PATH
# Other settings (all optional):
#   SFTKIT_MODULES          modules to `module load` first          (default: none), e.g. "cuda/12.4"
#   SFTKIT_PYTHON           python to run                           (default: python of the env above)
#   SFTKIT_WORKERS_PER_TASK workers per task, each with its own GPUs and shard   (default: 1)
#   SFTKIT_GPUS_PER_WORKER  GPUs each worker gets   (default: the task's GPUs / workers), e.g. 4 x TP2 on 8 GPUs;
#                           checked against the stage's tensor x pipeline parallel size before any worker starts
#   SFTKIT_WORKER_STAGGER   seconds between worker starts, so engines do not all load at once  (default: 5)
#   SFTKIT_PORT_BASE        first port of the per-worker port blocks (default: 12000): each worker gets 16
#                           ports, MASTER_PORT the first and VLLM_PORT the next, from the job id (local runs:
#                           the task, or the pid) and worker index, so neither the workers of a job nor two
#                           jobs on one node race for a port
#   SFTKIT_MAX_REQUEUES     requeues of a task that saved and stopped (exit 75: a stop signal, a model server
#                           gone) before it fails instead, naming why (default: 20; counts Slurm's
#                           SLURM_RESTART_COUNT, so time-limit requeues too)
#   SFTKIT_ALLOW_CPU=1      run a GPU stage on CPU on purpose (otherwise a job given GPUs whose torch cannot
#                           use them stops at once, naming the python)
set -euo pipefail

_sftkit_conda_base() {  # is the active conda env conda's (or micromamba's) base?
  [ "${CONDA_DEFAULT_ENV:-}" = base ] && return 0
  [ -n "${CONDA_EXE:-}" ] && [ "$CONDA_PREFIX" = "$(dirname "$(dirname "$CONDA_EXE")")" ] && return 0
  [ -n "${MAMBA_ROOT_PREFIX:-}" ] && [ "$CONDA_PREFIX" = "$MAMBA_ROOT_PREFIX" ]
}

_sftkit_use_active() {  # PREFIX KIND VAR: an environment that was active where the job was submitted
  if [ ! -x "$1/bin/python" ]; then
    echo "[sftkit] error: $3=$1 was active where you submitted, but there is no $1/bin/python on" \
         "$(hostname). Deactivate it, or choose with SFTKIT_VENV or SFTKIT_CONDA_ENV." >&2
    return 2
  fi
  export PATH="$1/bin:$PATH"  # first, even after SFTKIT_MODULES
  SFTKIT_ENV_CHOSEN="$2 $1 (active where submitted: $3)"
}

# sftkit_activate: load SFTKIT_MODULES, activate the environment chosen as above, set PYTHON, and
# say in SFTKIT_ENV_CHOSEN what was chosen and why (the banner prints it).
sftkit_activate() {
  if [ -n "${SFTKIT_MODULES:-}" ]; then
    # shellcheck disable=SC2086  # a list of module names
    module load $SFTKIT_MODULES
  fi
  if [ -n "${SFTKIT_CONDA_ENV:-}" ] && [ -n "${SFTKIT_VENV:-}" ]; then
    echo "[sftkit] error: both SFTKIT_CONDA_ENV ($SFTKIT_CONDA_ENV) and SFTKIT_VENV ($SFTKIT_VENV) are set; keep one" >&2
    return 2
  fi
  set +u  # activation scripts are not written for `set -u`
  if [ -n "${SFTKIT_CONDA_ENV:-}" ]; then
    local conda=${CONDA_EXE:-$(command -v conda || true)}
    if [ -z "$conda" ]; then
      echo "[sftkit] error: SFTKIT_CONDA_ENV is set but conda is not found here; load it with SFTKIT_MODULES" >&2
      return 2
    fi
    # shellcheck disable=SC1091
    source "$("$conda" info --base)/etc/profile.d/conda.sh"
    conda activate "$SFTKIT_CONDA_ENV"
    SFTKIT_ENV_CHOSEN="conda env $SFTKIT_CONDA_ENV at ${CONDA_PREFIX:-?} (SFTKIT_CONDA_ENV)"
  elif [ -n "${SFTKIT_VENV:-}" ]; then
    # shellcheck disable=SC1091
    source "$SFTKIT_VENV/bin/activate"
    SFTKIT_ENV_CHOSEN="venv $SFTKIT_VENV (SFTKIT_VENV)"
  elif [ -n "${VIRTUAL_ENV:-}" ]; then
    _sftkit_use_active "$VIRTUAL_ENV" venv VIRTUAL_ENV
  elif [ -n "${CONDA_PREFIX:-}" ] && ! _sftkit_conda_base; then
    _sftkit_use_active "$CONDA_PREFIX" "conda env" CONDA_PREFIX
  elif [ -f "$ROOT/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$ROOT/.venv/bin/activate"
    SFTKIT_ENV_CHOSEN="venv $ROOT/.venv (the repo's: no environment set or active)"
  else
    SFTKIT_ENV_CHOSEN="none set or active (python from PATH)"
  fi
  set -u
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  PYTHON=${SFTKIT_PYTHON:-python}
  if [ -n "${SFTKIT_PYTHON:-}" ]; then SFTKIT_ENV_CHOSEN+=", python from SFTKIT_PYTHON"; fi
}

sftkit_banner() {
  local log=""
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    log=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *StdOut=//p' | head -1)
  fi
  echo "[sftkit] $(date '+%F %T') host=$(hostname) job=${SLURM_JOB_ID:-local} task=${SLURM_ARRAY_TASK_ID:--}" \
       "restart=${SLURM_RESTART_COUNT:-0} gpus=${CUDA_VISIBLE_DEVICES:-none} log=${log:-stdout}"
  echo "[sftkit] environment: ${SFTKIT_ENV_CHOSEN:-?}; python: $(command -v "$PYTHON" || echo "$PYTHON (not found)")"
}

_SFTKIT_PIDS=() _SFTKIT_STOP=""
_sftkit_forward() {  # pass a stop signal on: each worker saves what finished and exits with code 75
  _SFTKIT_STOP=$1
  echo "[sftkit] received $1, asking ${#_SFTKIT_PIDS[@]} worker(s) to save and stop"
  if [ "${#_SFTKIT_PIDS[@]}" -gt 0 ]; then kill -"$1" "${_SFTKIT_PIDS[@]}" 2>/dev/null || true; fi
}

_sftkit_timed_out() {  # JOB: stopped by its time limit? (Slurm never requeues a job that timed out)
  scontrol show job "$1" 2>/dev/null | grep -q "Reason=TimeLimit"
}

# _sftkit_gpus WORKERS NEEDED: set PER (GPUs per worker, 0: do not split) from CUDA_VISIBLE_DEVICES,
# or refuse when the workers cannot each get the NEEDED GPUs their engines use (tp x pp).
_sftkit_gpus() {
  local workers=$1 needed=$2 n=${#_SFTKIT_GPUS[@]}
  if [ "$n" -eq 0 ]; then
    PER=0
    [ "$workers" -gt 1 ] || return 0
    local why=""
    if [ -n "${SLURM_JOB_GPUS:-}${SLURM_STEP_GPUS:-}" ]; then
      why="this job has GPUs (SLURM_JOB_GPUS=${SLURM_JOB_GPUS:-${SLURM_STEP_GPUS:-}})"
    elif [ "$needed" -gt 0 ] && [ "${SFTKIT_ALLOW_CPU:-0}" = 0 ]; then
      why="the stage runs its model on GPUs (SFTKIT_ALLOW_CPU=1 for a CPU run)"
    fi
    if [ -n "$why" ]; then
      echo "[sftkit] error: $workers workers but no CUDA_VISIBLE_DEVICES to split among them, and $why:" \
           "every worker would use every GPU. Set CUDA_VISIBLE_DEVICES to the task's GPUs." >&2
      return 2
    fi
    return 0
  fi
  PER=${SFTKIT_GPUS_PER_WORKER:-$(( n / workers ))}
  if [ "$needed" -eq 0 ] && [ "$PER" -eq 0 ]; then return 0; fi  # nothing here uses a GPU: no split needed
  local want=$(( needed > 1 ? needed : 1 ))
  if [ "$PER" -lt 1 ] || [ $(( PER * workers )) -gt "$n" ]; then
    echo "[sftkit] error: $workers workers x $(( PER > want ? PER : want )) GPU(s) each need more than the $n GPU(s)" \
         "of this task (CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES): ask for --gres=gpu:$(( workers * want ))" \
         "or run fewer workers" >&2
    return 2
  fi
  if [ "$needed" -gt "$PER" ]; then
    echo "[sftkit] error: each worker runs an engine on $needed GPUs (tensor x pipeline parallel) but gets $PER" \
         "of this task's $n: ask for --gres=gpu:$(( workers * needed )), run fewer workers, or set" \
         "SFTKIT_GPUS_PER_WORKER" >&2
    return 2
  fi
}

# sftkit_stage STAGE ARGS...: run the stage's entry script with ARGS in SFTKIT_WORKERS_PER_TASK
# workers, each with its own GPU subset, port block and shard, started SFTKIT_WORKER_STAGGER seconds
# apart. Waits for all; fails if any fails. A worker stopped by USR1 or TERM saves what finished
# (down to single requests) and exits 75; so does one the signal reached before Python caught it
# (it had nothing to save yet). After USR1 (sent before the time limit) the task requeues itself;
# after TERM only at the time limit, where Slurm would not bring it back: on preemption, scontrol
# requeue or scancel, Slurm, which sent it, decides.
sftkit_stage() {
  local stage=$1; shift
  sftkit_activate
  sftkit_banner
  local script workers needed w subset rc status=0 requeue=0 port stagger
  local job=${SLURM_JOB_ID:-${SLURM_ARRAY_TASK_ID:-$$}} port_base=${SFTKIT_PORT_BASE:-12000}  # local: task or pid
  script=$("$PYTHON" -m sftkit.orchestrate script "$stage")
  needed=$("$PYTHON" -m sftkit.orchestrate gpus-needed "$stage" -- "$@")
  workers=${SFTKIT_WORKERS_PER_TASK:-1}
  stagger=${SFTKIT_WORKER_STAGGER:-5}
  _SFTKIT_GPUS=()
  IFS=, read -ra _SFTKIT_GPUS <<< "${CUDA_VISIBLE_DEVICES:-}"
  _sftkit_gpus "$workers" "$needed"
  trap '_sftkit_forward USR1' USR1
  trap '_sftkit_forward TERM' TERM
  _SFTKIT_PIDS=() _SFTKIT_STOP=""
  for (( w = 0; w < workers; w++ )); do
    if [ "$w" -gt 0 ] && [ "$stagger" != 0 ]; then  # engines loading at once contend for disk, memory and ports
      sleep "$stagger" &
      wait "$!" || kill "$!" 2>/dev/null || true  # a stop signal ends the wait early
    fi
    if [ -n "$_SFTKIT_STOP" ]; then
      echo "[sftkit] not starting workers $w-$(( workers - 1 )) after $_SFTKIT_STOP"
      if [ "$_SFTKIT_STOP" = USR1 ]; then requeue=1; else status=143; fi
      break
    fi
    subset=""
    if [ "$PER" -gt 0 ]; then subset=$(IFS=,; echo "${_SFTKIT_GPUS[*]:$(( w * PER )):$PER}"); fi
    # a block of 16 ports per worker, from job id and worker: with up to 16 workers per job, two jobs
    # on a node share a block only if their ids differ by a multiple of 80 (vLLM still skips a busy port)
    port=$(( port_base + ((job * 16 + w) % 1280) * 16 ))
    (
      if [ "$workers" -gt 1 ]; then export SFTKIT_WORKER_INDEX=$w SFTKIT_WORKERS_PER_TASK=$workers; fi
      if [ -n "$subset" ]; then export CUDA_VISIBLE_DEVICES=$subset; fi
      export MASTER_PORT=$port VLLM_PORT=$(( port + 1 ))
      exec "$PYTHON" "$ROOT/$script" "$@"
    ) &
    _SFTKIT_PIDS+=($!)
    echo "[sftkit] worker $w: pid $! gpus=${subset:-${CUDA_VISIBLE_DEVICES:-none}} ports=$port-$(( port + 15 ))" \
         "started=$(date +%s)"
  done
  for pid in "${_SFTKIT_PIDS[@]}"; do
    while true; do
      rc=0; wait "$pid" || rc=$?
      # a trapped signal interrupts `wait` with 128+n while the worker still runs: wait again
      if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
      break
    done
    # killed by the very signal forwarded, before its handlers were in place: nothing was lost either
    if [ "$rc" -eq 75 ] || { [ -n "$_SFTKIT_STOP" ] && [ "$rc" -eq $(( 128 + $(kill -l "$_SFTKIT_STOP") )) ]; }; then
      requeue=1
    elif [ "$rc" -ne 0 ]; then status=$rc; fi
    echo "[sftkit] worker pid $pid exited $rc"
  done
  trap - USR1 TERM
  if [ "$status" -ne 0 ]; then return "$status"; fi
  if [ "$requeue" -eq 1 ]; then
    # an array task by ARRAY_TASK: the bare job id of task 0 would requeue the whole array
    local me=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}
    me=${me:-${SLURM_JOB_ID:-}}
    if [ "$_SFTKIT_STOP" = TERM ] && ! { [ -n "$me" ] && _sftkit_timed_out "$me"; }; then
      echo "[sftkit] progress saved after TERM; whoever sent it (preemption, requeue, cancel) decides what comes next"
      return 143
    fi
    if [ -n "$me" ] && [ "${SLURM_RESTART_COUNT:-0}" -ge "${SFTKIT_MAX_REQUEUES:-20}" ]; then
      echo "[sftkit] error: progress saved, but $me was already requeued ${SLURM_RESTART_COUNT:-0} times" \
           "(SFTKIT_MAX_REQUEUES=${SFTKIT_MAX_REQUEUES:-20}): not again. Why does it keep stopping (a model" \
           "server that keeps going away, see above)? Fix that, then resubmit the missing shards" >&2
      return 1
    fi
    if [ -n "$me" ]; then
      echo "[sftkit] progress saved; requeueing $me"
      scontrol requeue "$me" || true  # already requeued when Slurm itself stopped us
    fi
    return 0
  fi
  if [ "$workers" -gt 1 ] && [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then  # one job, several workers: merge here
    "$PYTHON" -m sftkit.orchestrate merge "$stage" "${SFTKIT_NUM_SHARDS:-$workers}" -- "$@"
  fi
}
