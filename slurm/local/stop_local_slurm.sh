#!/usr/bin/env bash
# Stop the cluster started by start_local_slurm.sh: cancel its jobs, then stop the daemons by the
# pids it recorded (never by name). --purge also removes its state and config files.
set -uo pipefail
BASE=${SLURM_LOCAL_DIR:-/var/lib/sftkit-slurm}
MARK="# written by sftkit slurm/local/start_local_slurm.sh"
jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
if [ -n "${jobs// /}" ]; then
  # shellcheck disable=SC2086
  scancel $jobs 2>/dev/null
  for _ in $(seq 60); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.25; done
fi
for name in slurmd slurmctld; do
  f=$BASE/pids/$name.pid
  if [ -s "$f" ] && [ -d "/proc/$(cat "$f")" ] &&
     [ "$(basename "$(tr '\0' '\n' < "/proc/$(cat "$f")/cmdline" | head -1)")" = "$name" ]; then
    pid=$(cat "$f"); kill "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && kill -9 "$pid"
  fi
  rm -f "$f"
done
if [ "${1:-}" = "--purge" ]; then
  for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    [ -e "$f" ] && grep -qF "$MARK" "$f" && rm -f "$f"
  done
  rm -rf "$BASE"
fi
exit 0
