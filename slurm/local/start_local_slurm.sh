#!/usr/bin/env bash
# Start a real single-node Slurm (Debian's slurmctld + slurmd 22.05) on this machine, for the test
# suite and CI: no systemd, no munge daemon (auth/none: only for an isolated machine). Run as root.
# Idempotent: with the cluster up and the config unchanged it only waits for the node.
#
#   SLURM_LOCAL_DIR        state, spool, logs and pid files     [/var/lib/sftkit-slurm]
#   SLURM_LOCAL_FAKE_GPUS  fake gres/gpu devices to advertise   [0]
#   SLURM_LOCAL_TIMEOUT    seconds to wait for an idle node     [60]
set -euo pipefail
BASE=${SLURM_LOCAL_DIR:-/var/lib/sftkit-slurm}
CONF_DIR=/etc/slurm
MARK="# written by sftkit slurm/local/start_local_slurm.sh"
GPUS=${SLURM_LOCAL_FAKE_GPUS:-0}
say() { echo "[local-slurm] $*" >&2; }
die() { say "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurmctld slurmd slurm-client"
  # keep the packages' maintainer scripts from starting daemons with the stock config
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

running() {  # running NAME: our pid file names a live process of that program
  local f=$BASE/pids/$1.pid
  [ -s "$f" ] && [ -d "/proc/$(cat "$f")" ] &&
    [ "$(basename "$(tr '\0' '\n' < "/proc/$(cat "$f")/cmdline" | head -1)")" = "$1" ]
}
stop() {
  if running "$1"; then
    local pid; pid=$(cat "$BASE/pids/$1.pid"); kill "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && kill -9 "$pid"
  fi
  rm -f "$BASE/pids/$1.pid"
}
start() {  # start NAME ARGS...: in its own session, recording its pid
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$BASE/pids/$1.pid" "/usr/sbin/$1" "${@:2}" \
    </dev/null >>"$BASE/log/$1.stderr" 2>&1 &
  for _ in $(seq 50); do running "$1" && return; sleep 0.1; done
  die "$1 did not start; see $BASE/log/$1.stderr"
}

mkdir -p "$BASE"/{state,spool,pids,log,fakegpu} "$CONF_DIR"
for f in slurm.conf gres.conf; do
  if [ -e "$CONF_DIR/$f" ] && ! grep -qF "$MARK" "$CONF_DIR/$f"; then
    die "$CONF_DIR/$f exists and was not written by this script"
  fi
done
MEM=$(( $(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
gres_line="" gres_types="" gres_conf="$MARK"
if [ "$GPUS" -gt 0 ]; then
  # gres/gpu needs device files: /dev/null stand-ins, and jobs still get CUDA_VISIBLE_DEVICES
  for i in $(seq 0 $(( GPUS - 1 ))); do ln -sfn /dev/null "$BASE/fakegpu/nvidia$i"; done
  gres_types="GresTypes=gpu" gres_line="Gres=gpu:$GPUS"
  gres_conf+=$'\n'"NodeName=localhost Name=gpu File=$BASE/fakegpu/nvidia[0-$(( GPUS - 1 ))]"
fi
conf="$MARK
ClusterName=sftkit-local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.internal.pid
SlurmdPidFile=$BASE/slurmd.internal.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=256
EnforcePartLimits=ALL
SchedulerParameters=batch_sched_delay=0,sched_interval=1
DependencyParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.log
MpiDefault=none
ReturnToService=2
MinJobAge=600
$gres_types
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=$(hostname -s) CPUs=$(nproc) RealMemory=$MEM $gres_line State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP"
if [ "$(cat "$CONF_DIR/slurm.conf" 2>/dev/null)" != "$conf" ] || [ "$(cat "$CONF_DIR/gres.conf" 2>/dev/null)" != "$gres_conf" ]; then
  printf '%s\n' "$conf" > "$CONF_DIR/slurm.conf"
  printf '%s\n' "$gres_conf" > "$CONF_DIR/gres.conf"
  stop slurmd; stop slurmctld
fi
running slurmctld || start slurmctld -D -f "$CONF_DIR/slurm.conf"
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
running slurmd || start slurmd -D -N localhost -f "$CONF_DIR/slurm.conf"

resumed=0
for i in $(seq $(( ${SLURM_LOCAL_TIMEOUT:-60} * 4 ))); do
  running slurmctld || die "slurmctld died; see $BASE/log"
  running slurmd || die "slurmd died; see $BASE/log"
  case "$(sinfo -h -n localhost -o %t 2>/dev/null | head -1)" in
    idle|mix|alloc|comp) say "ready: $(sinfo -h -o '%P %a %D %t')"; exit 0 ;;
    drain*|drng|inval|down*)  # left drained by an earlier run: resume it once
      if [ "$resumed" = 0 ] && [ "$i" -gt 8 ]; then scontrol update nodename=localhost state=resume || true; resumed=1; fi ;;
  esac
  sleep 0.25
done
die "node not ready after ${SLURM_LOCAL_TIMEOUT:-60}s; see $BASE/log"
