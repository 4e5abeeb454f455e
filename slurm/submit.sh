#!/bin/bash
# One command for a whole stage: a job (or a sharded array plus its merge job) on Slurm, or the
# same shards as local processes with --local.
#
#   slurm/submit.sh [--local] STAGE [--shards N] [--max-parallel M] [--workers-per-task W]
#                   [--merge-tasks T] [--missing-only] [sbatch options...] -- <stage arguments>
#
#   STAGE               a stage with a slurm/run_STAGE.sh (the list below, from sftkit/registry.py; an
#                       older name such as llm_filter is taken for the stage it names)
#   --shards N          split the stage into N shards: an array of N/W tasks + a merge job
#   --max-parallel M    at most M tasks at once (array %M; local: M processes; default: all)
#   --workers-per-task  W workers per task, each with its own GPU subset and shard (default 1); without
#                       --shards, one job of W workers on W shards, merged by the job itself
#   --merge-tasks T     with --shards, a stage with a partitioned merge (dedup) merges as a chain of arrays
#                       (pairs over T tasks, clusters, then per shard), each step after the last succeeded,
#                       instead of one merge job; locally, the same steps as local processes
#   --missing-only      submit only the tasks whose shards are not complete (the resubmit command)
#   --after JOBID       start only once job JOBID has succeeded (sbatch --dependency=afterok:JOBID
#                       --kill-on-invalid-dep=yes: if it fails, this stage is cancelled, never run);
#                       the merge waits for it too, also when it is the only job submitted
#   --server MODEL      first a model server job for MODEL (slurm/run_server.sh); the array starts once it
#                       has started (after:), its engines running MODEL reach it through --server-file, its
#                       tasks ask for no GPU (--gres=none unless you give --gres); a job after the merge
#                       cancels the server, whatever the result. With --shards only, not --local.
#   --server-gres G     the server's GPUs per node (default: run_server.sh's gpu:1), e.g. gpu:8
#   --server-nodes N    the server's nodes (default 1; more: Ray, tensor x pipeline parallel across them)
#   --server-args "..." more run_server.sh arguments, e.g. "--tp 8 --pp 2 -- --max-model-len 32768"
#   --server-sbatch "..." sbatch options for the server job, e.g. "-p gpu -c 32 --mem=512G --time=48:00:00"
#   --local             run here, without Slurm: same shards, markers, resume and merge
#   SFTKIT_LOG_DIR      log folder (default: ./logs); logs are <dir>/<job-name>-<array id>_<task>.out
#   SFTKIT_PRINT_JOBIDS=1  end with a line `sftkit-jobs: array=ID last=ID` (array: - when none; last: the
#                       job whose success means the stage is done, the merge or the single job)
#   SFTKIT_SIGNAL_LEAD  seconds before the time limit that workers are told to save and requeue (default:
#                       the scripts' --signal=B:USR1@120); it only needs to cover saving, not a request
#
#   slurm/submit.sh pipeline RECIPE.yaml [--dry-run] [--local]   every stage of a recipe (recipes/)
#   slurm/submit.sh status RECIPE.yaml                           where each stage of it stands
#
# The merge job runs with --dependency=afterany and checks completeness itself, so one failed
# task makes it fail, naming the shard, instead of leaving it pending forever.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
  # the registry is a leaf module that needs nothing installed: any python3 reads it
  echo; echo "stages: $(PYTHONPATH="$ROOT" python3 -c 'from sftkit.registry import names_line; print(names_line())')"
  exit 2
}
if [ "${1:-}" = pipeline ] || [ "${1:-}" = status ]; then  # whole recipes: sftkit/pipeline/
  # shellcheck source=slurm/lib.sh
  source "$ROOT/slurm/lib.sh"
  sftkit_activate
  exec "$PYTHON" -m sftkit.pipeline "$@"
fi

LOCAL=0 MISSING=0 SHARDS="" MAXPAR="" WORKERS=1 STAGE="" SBATCH_ARGS=()
SERVER="" SERVER_GRES="" SERVER_NODES=1 SERVER_ARGS="" SERVER_SBATCH="" server="" AFTER="" MERGE_TASKS=""
ORIGINAL=("$@")
value() {  # FLAG [VALUE]: one line, not bash's "$2: unbound variable", when a flag's value is missing
  [ $# -ge 2 ] || { echo "error: $1 needs a value (slurm/submit.sh --help)" >&2; exit 2; }
}
number() {  # FLAG [VALUE]: a count, as a whole number
  [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || { echo "error: $1 needs a whole number, e.g. $1 4" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --local) LOCAL=1 ;;
    --shards) number "$@"; SHARDS=$2; shift ;;
    --max-parallel) number "$@"; MAXPAR=$2; shift ;;
    --workers-per-task) number "$@"; WORKERS=$2; shift ;;
    --merge-tasks) number "$@"; MERGE_TASKS=$2; shift ;;
    --missing-only) MISSING=1 ;;
    --after) value "$@"; AFTER=$2; shift ;;
    --server) value "$@"; SERVER=$2; shift ;;
    --server-gres) value "$@"; SERVER_GRES=$2; shift ;;
    --server-nodes) number "$@"; SERVER_NODES=$2; shift ;;
    --server-args) value "$@"; SERVER_ARGS=$2; shift ;;
    --server-sbatch) value "$@"; SERVER_SBATCH=$2; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) if [ -z "$STAGE" ]; then STAGE=$1; else SBATCH_ARGS+=("$1"); fi ;;
  esac
  shift
done
STAGE_ARGS=("$@")
[ -n "$STAGE" ] || usage
if [ "$LOCAL" = 1 ]; then  # sbatch options are kept for sbatch, and locally there is none to honour them
  cannot=("${SBATCH_ARGS[@]}" ${AFTER:+--after "$AFTER"})
  if [ ${#cannot[@]} -gt 0 ]; then
    if [ ${#STAGE_ARGS[@]} -eq 0 ] && [[ " ${cannot[*]}" == *" --input"* || " ${cannot[*]}" == *" --output"* ]]; then
      echo "error: ${cannot[*]}: stage flags go after --: slurm/submit.sh --local $STAGE [--shards N] -- ${cannot[*]}" >&2
      exit 2
    fi
    echo "error: --local runs here without Slurm and cannot honour: ${cannot[*]} (drop them, or submit to Slurm)" >&2
    exit 2
  fi
fi
if [ -n "${SFTKIT_SIGNAL_LEAD:-}" ] && [ "$LOCAL" = 0 ]; then
  [[ "$SFTKIT_SIGNAL_LEAD" =~ ^[0-9]+$ ]] || { echo "error: SFTKIT_SIGNAL_LEAD=$SFTKIT_SIGNAL_LEAD is not a number of seconds" >&2; exit 2; }
  SBATCH_ARGS+=(--signal="B:USR1@$SFTKIT_SIGNAL_LEAD")  # over the scripts' #SBATCH line
fi
if [ -n "$MERGE_TASKS" ] && [ -z "$SHARDS" ]; then
  echo "error: --merge-tasks splits the merge of a sharded run: add --shards N" >&2; exit 2
fi
if [ -n "$SERVER" ] && { [ -z "$SHARDS" ] || [ "$LOCAL" = 1 ]; }; then
  echo "error: --server needs --shards and Slurm (locally, start vllm serve yourself and pass --base-url)" >&2; exit 2
fi

# shellcheck source=slurm/lib.sh
source "$ROOT/slurm/lib.sh"
sftkit_activate
orchestrate() { "$PYTHON" -m sftkit.orchestrate "$@"; }
STAGE=$(orchestrate name "$STAGE") || exit 2  # its one name: an alias or a typo is settled here
RUN="$ROOT/$(orchestrate sbatch "$STAGE")" || exit 2
dependency() {  # DEP: one --dependency (sbatch keeps only its last) of the stage's --after and "$@"
  local IFS=, conds=(${AFTER:+"afterok:$AFTER"} "$@")
  DEP=()
  if [ ${#conds[@]} -gt 0 ]; then DEP=(--dependency="${conds[*]}"); fi
  if [ -n "$AFTER" ]; then DEP+=(--kill-on-invalid-dep=yes); fi
}
words() {  # NAME FLAG STRING: STRING's words, split as a shell splits them (quotes kept), into array NAME
  local out; out=$(orchestrate split -- "$2" "$3") || exit 2  # -- : both may start with a dash
  mapfile -t "$1" < <(if [ -n "$out" ]; then printf '%s\n' "$out"; fi)
}
cancel_on_failure() {  # EXIT trap once a server job is submitted: on failure cancel what this run submitted
  local rc=$? jobs=("$server" ${array:+"$array"} ${merge:+"$merge"})
  if [ "$rc" -ne 0 ]; then
    scancel "${jobs[@]}" || true
    echo "error: submitting $STAGE failed after its server job $server was submitted; cancelled jobs ${jobs[*]}" >&2
  fi
}
SCRIPT=$(orchestrate script "$STAGE")

resubmit="$0" skip=0 past=0
for arg in "${ORIGINAL[@]}"; do  # without --after: by the time shards need a rerun, that job is long over
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ "$past" = 0 ] && [ "$arg" = "--after" ]; then skip=1; continue; fi
  [ "$arg" = "--missing-only" ] && continue
  [ "$arg" = "--" ] && { resubmit+=" --missing-only"; past=1; }
  resubmit+=" $(printf '%q' "$arg")"
done
case " $resubmit " in *" --missing-only "*) ;; *) resubmit+=" --missing-only" ;; esac

if [ -z "$SHARDS" ] && [ "$WORKERS" -gt 1 ]; then  # one job, W workers on W shards; lib.sh merges at its end
  orchestrate sharded "$STAGE" || { echo "error: $STAGE is not a sharded stage; drop --workers-per-task" >&2; exit 2; }
  export SFTKIT_WORKERS_PER_TASK=$WORKERS SFTKIT_NUM_SHARDS=$WORKERS
  if [ "$LOCAL" = 1 ]; then
    exec env -u SLURM_JOB_ID -u SLURM_ARRAY_TASK_ID SFTKIT_ROOT="$ROOT" bash "$RUN" "${STAGE_ARGS[@]}"
  fi
fi
if [ -z "$SHARDS" ]; then  # a single job
  if [ "$LOCAL" = 1 ]; then exec "$PYTHON" "$ROOT/$SCRIPT" "${STAGE_ARGS[@]}"; fi
  LOG_DIR=$(realpath -m "${SFTKIT_LOG_DIR:-logs}"); mkdir -p "$LOG_DIR"
  dependency
  jid=$(SFTKIT_ROOT=$ROOT sbatch --parsable --output="$LOG_DIR/%x-%j.out" "${DEP[@]}" "${SBATCH_ARGS[@]}" \
        "$RUN" "${STAGE_ARGS[@]}")
  jid=${jid%%;*}
  name=$(scontrol show job "$jid" 2>/dev/null | sed -n 's/^JobId=[0-9]* JobName=//p' | head -1)
  if [ "$WORKERS" -gt 1 ]; then
    echo "submitted $STAGE: job $jid ($WORKERS workers on $WORKERS shards, merged by the job)"
  else
    echo "submitted $STAGE: job $jid"
  fi
  echo "log: $LOG_DIR/${name:-<job-name>}-$jid.out"
  if [ -n "${SFTKIT_PRINT_JOBIDS:-}" ]; then echo "sftkit-jobs: array=- last=$jid"; fi
  exit 0
fi

orchestrate sharded "$STAGE" || { echo "error: $STAGE is not a sharded stage; drop --shards" >&2; exit 2; }
if [ $(( SHARDS % WORKERS )) -ne 0 ]; then
  echo "error: --shards $SHARDS must be a multiple of --workers-per-task $WORKERS" >&2; exit 2
fi
TASKS=$(( SHARDS / WORKERS ))
STEPS=()  # with --merge-tasks: the partitioned merge's steps, "STEP TASKS" each
if [ -n "$MERGE_TASKS" ]; then
  STAGE_ARGS+=(--merge-tasks "$MERGE_TASKS")
  steps=$(orchestrate merge-steps "$STAGE" "$SHARDS" -- "${STAGE_ARGS[@]}") || exit 2
  mapfile -t STEPS <<< "$steps"
fi
OUTPUT=$(orchestrate output "$STAGE" -- "${STAGE_ARGS[@]}")
if [ "$MISSING" = 1 ]; then
  LIST=$(orchestrate missing "$OUTPUT" "$SHARDS" "$WORKERS")
else
  LIST=$(seq -s, 0 $(( TASKS - 1 )))
fi

if [ "$LOCAL" = 1 ]; then  # the run script itself, as local processes, task id in the environment
  orchestrate writable "$OUTPUT" || exit 2  # one line here, not every task failing on it
  # each task's log goes whole to its own file, and line by line (sed -u: never a line cut in two) to the terminal
  LOG_DIR=$(realpath -m "${SFTKIT_LOG_DIR:-logs}"); mkdir -p "$LOG_DIR"
  name=$(sed -n 's/^#SBATCH --job-name=//p' "$RUN")
  echo "task logs: $LOG_DIR/${name}-local_<task>.out"
  # shellcheck disable=SC2016  # expanded by the inner bash
  printf '%s\n' ${LIST//,/ } | SFTKIT_ROOT=$ROOT SFTKIT_NUM_SHARDS=$SHARDS SFTKIT_WORKERS_PER_TASK=$WORKERS \
    SFTKIT_TASK_LOG="$LOG_DIR/${name}-local_%s.out" xargs -P "${MAXPAR:-0}" -I{} env -u SLURM_JOB_ID SLURM_ARRAY_TASK_ID={} \
    bash -c 'log=$(printf "$SFTKIT_TASK_LOG" "$SLURM_ARRAY_TASK_ID")
      bash "$0" "$@" 2>&1 | tee "$log" | sed -u "s/^/[task $SLURM_ARRAY_TASK_ID] /"; exit "${PIPESTATUS[0]}"' \
    "$RUN" "${STAGE_ARGS[@]}" || true
  LEFT=$(orchestrate missing "$OUTPUT" "$SHARDS" "$WORKERS")
  if [ -n "$LEFT" ]; then
    echo "tasks $LEFT did not complete. To rerun only those, then merge:" >&2
    echo "  $resubmit" >&2
    exit 1
  fi
  for line in "${STEPS[@]}"; do  # each step's tasks as local processes, once the step before has succeeded
    read -r step count <<< "$line"
    echo "merge step $step: $count task(s)"
    seq 0 $(( count - 1 )) | xargs -P "${MAXPAR:-0}" -I{} "$PYTHON" -m sftkit.orchestrate merge "$STAGE" "$SHARDS" \
      -- "${STAGE_ARGS[@]}" --merge-step "$step" --merge-task {} || { echo "error: merge step $step failed; rerun the same command to resume" >&2; exit 1; }
  done
  if [ ${#STEPS[@]} -gt 0 ]; then exit 0; fi
  exec "$PYTHON" -m sftkit.orchestrate merge "$STAGE" "$SHARDS" -- "${STAGE_ARGS[@]}"
fi

LOG_DIR=$(realpath -m "${SFTKIT_LOG_DIR:-logs}"); mkdir -p "$LOG_DIR"
if [ -z "$LIST" ]; then
  echo "every shard of $OUTPUT is complete; submitting only the merge"
  array=""
else
  served=()  # with --server: the server job first (after --after's job), the array once it has started
  if [ -n "$SERVER" ]; then
    dependency
    flags=$(orchestrate server-flags "$STAGE" "$SERVER" -- "${STAGE_ARGS[@]}") || exit 2
    mapfile -t flags <<< "$flags"
    SERVER_FILE=${flags[0]}
    STAGE_ARGS+=("${flags[@]:1}")
    words server_sbatch --server-sbatch "$SERVER_SBATCH"
    words server_args --server-args "$SERVER_ARGS"
    server=$(SFTKIT_ROOT=$ROOT sbatch --parsable --nodes="$SERVER_NODES" ${SERVER_GRES:+--gres="$SERVER_GRES"} \
             --output="$LOG_DIR/%x-%j.out" "${DEP[@]}" "${server_sbatch[@]}" "$ROOT/slurm/run_server.sh" \
             --model "$SERVER" --server-file "$SERVER_FILE" "${server_args[@]}")
    server=${server%%;*}
    trap cancel_on_failure EXIT  # from here on, a failed sbatch must not leave the server holding its GPUs
    served=(--gres=none)
  fi
  dependency ${server:+"after:$server"}
  array=$(SFTKIT_ROOT=$ROOT SFTKIT_NUM_SHARDS=$SHARDS SFTKIT_WORKERS_PER_TASK=$WORKERS \
          sbatch --parsable --array="$LIST${MAXPAR:+%$MAXPAR}" --output="$LOG_DIR/%x-%A_%a.out" \
          "${DEP[@]}" "${served[@]}" "${SBATCH_ARGS[@]}" "$RUN" "${STAGE_ARGS[@]}")
  array=${array%%;*}
fi
dependency ${array:+"afterany:$array"}  # the merge checks completeness itself, so a failed task fails it
if [ ${#STEPS[@]} -eq 0 ]; then
  merge=$(SFTKIT_ROOT=$ROOT SFTKIT_RESUBMIT="$resubmit" SFTKIT_ARRAY_JOB=${array:-} sbatch --parsable "${DEP[@]}" \
          --job-name="sftkit-merge-$STAGE" --output="$LOG_DIR/%x-%j.out" \
          "$ROOT/slurm/merge.sh" "$STAGE" "$SHARDS" -- "${STAGE_ARGS[@]}")
  merge=${merge%%;*}
else  # the partitioned merge: one array per step, each once the one before has succeeded (else cancelled)
  steps_line="" first=1
  for line in "${STEPS[@]}"; do
    read -r step count <<< "$line"
    merge=$(SFTKIT_ROOT=$ROOT SFTKIT_RESUBMIT="$resubmit" SFTKIT_ARRAY_JOB=$([ "$first" = 1 ] && echo "${array:-}") \
            SFTKIT_MERGE_STEP=$step sbatch --parsable "${DEP[@]}" --array="0-$(( count - 1 ))${MAXPAR:+%$MAXPAR}" \
            --job-name="sftkit-merge-$STAGE-$step" --output="$LOG_DIR/%x-%A_%a.out" \
            "$ROOT/slurm/merge.sh" "$STAGE" "$SHARDS" -- "${STAGE_ARGS[@]}")
    merge=${merge%%;*}
    steps_line+=" $step=$merge"
    first=0
    DEP=(--dependency="afterok:$merge" --kill-on-invalid-dep=yes)
  done
  echo "merge steps (array jobs):$steps_line"
fi
if [ -n "$server" ]; then  # however the merge ends (done, failed, cancelled), no GPU keeps an idle model
  stopper=$(sbatch --parsable --dependency="afterany:$merge" --job-name=sftkit-stop-server -c 1 --mem=256M \
            --time=00:05:00 --output="$LOG_DIR/%x-%j.out" --wrap "scancel $server")
  trap - EXIT  # the stopper cancels it now
  echo "submitted server job ${server} ($SERVER on $SERVER_NODES node(s)); rendezvous file $SERVER_FILE"
  echo "server log: $LOG_DIR/sftkit-server-$server.out"
  echo "job ${stopper%%;*} cancels the server once the merge ends"
fi
name=$(sed -n 's/^#SBATCH --job-name=//p' "$RUN")
if [ -n "$LIST" ]; then
  echo "submitted $STAGE: array job $array, tasks $LIST of 0-$(( TASKS - 1 )) ($SHARDS shards)"
  echo "task logs: $LOG_DIR/$name-${array}_<task>.out"
fi
echo "merge job $merge -> $OUTPUT"
echo "merge log: $LOG_DIR/sftkit-merge-$STAGE-$merge.out"
echo "if tasks fail, rerun only the missing shards with:"
echo "  $resubmit"
if [ -n "${SFTKIT_PRINT_JOBIDS:-}" ]; then echo "sftkit-jobs: array=${array:--} last=$merge"; fi
