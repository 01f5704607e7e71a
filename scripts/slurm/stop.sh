#!/usr/bin/env bash
# Stop the single-node SLURM started by scripts/slurm/start.sh: slurmd, slurmctld (by the
# PIDs in their pid files) and munged if start.sh started it. Safe to run twice.
set -uo pipefail
state="${INTERPHASES_SLURM_STATE:-/tmp/slurm}"

stop_pid_file() {  # $1 name, $2 pid file
    local pid
    [ -f "$2" ] || return 0
    pid="$(cat "$2" 2>/dev/null)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "slurm/stop.sh: stopped $1 (pid $pid)"
    fi
    rm -f "$2"
}

stop_pid_file slurmd "$state/slurmd.pid"
stop_pid_file slurmctld "$state/slurmctld.pid"
if [ -f "$state/munged.started-by-us" ]; then
    stop_pid_file munged /run/munge/munged.pid
    rm -f "$state/munged.started-by-us"
fi
exit 0
