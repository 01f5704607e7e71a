#!/usr/bin/env bash
# Start a real single-node SLURM (munge + slurmctld + slurmd) for the tests, as root and
# without systemd (Debian 12: packages munge slurmctld slurmd slurm-client, installed by
# scripts/install-system.sh). Idempotent: if a controller already answers and the node is
# usable, it is reused and nothing is started.
#
#   scripts/slurm/start.sh        # start (or reuse), wait until the node is idle
#   scripts/slurm/stop.sh         # stop what start.sh started, by PID
#
# Environment:
#   INTERPHASES_SLURM_STATE  state/log/pid folder       (default /tmp/slurm)
#   INTERPHASES_SLURM_CPUS   CPUs the node advertises   (default: max(detected, 4))
#   SLURM_CONF               slurm.conf to write/use    (default /etc/slurm/slurm.conf)
# Exit status 0 when the node is idle (or busy with jobs), non-zero with a one-line reason.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${INTERPHASES_SLURM_STATE:-/tmp/slurm}"
conf="${SLURM_CONF:-/etc/slurm/slurm.conf}"
marker="# written by interphases scripts/slurm/start.sh"

die() { echo "slurm/start.sh: $*" >&2; exit 1; }

node_state() { sinfo -h -N -n localhost -o %t 2>/dev/null | head -n1 | tr -d '*~#!%$@^-' ; }

wait_node_usable() {  # up to $1 seconds until the node is idle/mix/alloc
    local deadline=$((SECONDS + $1)) st=""
    while [ $SECONDS -lt $deadline ]; do
        st="$(node_state || true)"
        case "$st" in
            idle|mix|alloc|comp) return 0 ;;
            drain|drng|down|fail|maint) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.3
    done
    echo "slurm/start.sh: node localhost not usable after $1 s (state: '${st:-none}'); see $state/log/" >&2
    return 1
}

for cmd in munged slurmctld slurmd sinfo scontrol; do
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] \
        || die "$cmd not found: install munge slurmctld slurmd slurm-client (bash scripts/install-system.sh)"
done
export PATH="$PATH:/usr/sbin"

# Reuse a running SLURM
if scontrol ping 2>/dev/null | grep -q "is UP"; then
    if wait_node_usable 15; then
        echo "slurm/start.sh: SLURM already running, node $(node_state)"
        exit 0
    fi
    die "a slurmctld answers but node localhost is not usable: stop it (scripts/slurm/stop.sh) and retry"
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n -E bash "$0" "$@"
    fi
    die "starting SLURM needs root (or passwordless sudo): run as root, or start SLURM yourself"
fi

# slurm.conf from the template: CPUs and 90% of the memory slurmd detects (more drains the node)
detected="$(slurmd -C | head -n1)"
real_mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")"
cpus_detected="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$detected")"
[ -n "$real_mem" ] && [ -n "$cpus_detected" ] || die "could not parse 'slurmd -C': $detected"
cpus="${INTERPHASES_SLURM_CPUS:-$(( cpus_detected > 4 ? cpus_detected : 4 ))}"
mem=$(( real_mem * 9 / 10 ))
if [ -f "$conf" ] && ! head -n1 "$conf" | grep -qF "$marker"; then
    die "$conf exists and was not written by this script: refusing to overwrite it (set SLURM_CONF to another path)"
fi
mkdir -p "$(dirname "$conf")" "$state"/{ctld,d,log}
sed -e "s#@STATE@#$state#g" -e "s#@CPUS@#$cpus#g" -e "s#@REALMEM@#$mem#g" \
    "$here/slurm.conf.in" > "$conf.tmp"
mv "$conf.tmp" "$conf"

# munge: reuse a working daemon, else start one as the munge user
if ! (munge -n 2>/dev/null | unmunge >/dev/null 2>&1); then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    [ -f /etc/munge/munge.key ] || die "/etc/munge/munge.key missing: reinstall munge (or run mungekey as root)"
    runuser -u munge -- munged
    for _ in $(seq 50); do (munge -n 2>/dev/null | unmunge >/dev/null 2>&1) && break; sleep 0.1; done
    (munge -n | unmunge >/dev/null) || die "munged did not start (see /var/log/munge/munged.log)"
    : > "$state/munged.started-by-us"
fi

# -c: start clean, without jobs left over from an earlier (killed) test run
slurmctld -c -f "$conf"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.1; done
scontrol ping | grep -q "is UP" || die "slurmctld did not come up (see $state/log/slurmctld.log)"
slurmd -N localhost -f "$conf"
wait_node_usable 30 || exit 1
echo "slurm/start.sh: SLURM up (node localhost: $cpus CPUs, ${mem} MB), state in $state"
