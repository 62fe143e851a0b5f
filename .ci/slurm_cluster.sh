#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on this machine (Debian's slurm-wlm + munge), for CI and for trying
# profiles/slurm by hand.
#   bash .ci/slurm_cluster.sh start    install the packages if absent, write the config, start the daemons
#   bash .ci/slurm_cluster.sh stop     stop the daemons this script started
# Needs root and apt-get; exits 3 with a message when the machine cannot run it.
# Accounting is off (no slurmdbd): status queries must use squeue (see README, "On a SLURM cluster").
set -euo pipefail

STATE=${SLURM_CI_STATE:-/tmp/damer-lite-slurm}
CONF_DIR=/etc/slurm

cannot() {
    echo "slurm_cluster: cannot run a local SLURM here: $*" >&2
    exit 3
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" -eq 0 ] || cannot "slurm-wlm and munge are not installed and this user is not root"
    command -v apt-get >/dev/null || cannot "slurm-wlm and munge are not installed and there is no apt-get"
    echo "slurm_cluster: installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || cannot "apt-get update failed"
    apt-get install -y -qq slurm-wlm munge >/dev/null || cannot "apt-get install slurm-wlm munge failed"
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # leave 1 GiB to the system; slurmd refuses a node that claims more than it has
    mem=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024))
    mkdir -p "$CONF_DIR" "$STATE"/{ctld,d,log}
    chown slurm:slurm "$STATE/ctld" "$STATE/log"
    cat >"$CONF_DIR/slurm.conf" <<EOF
# single-node test cluster written by damer-lite .ci/slurm_cluster.sh
ClusterName=damerci
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    install_packages
    write_config
    if ! pgrep -x munged >/dev/null; then
        [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; }
        mkdir -p /run/munge && chown munge:munge /run/munge
        su -s /bin/sh munge -c munged || cannot "munged did not start"
        touch "$STATE/started_munged"
    fi
    pgrep -x slurmctld >/dev/null || { slurmctld && touch "$STATE/started_slurmctld"; }
    pgrep -x slurmd >/dev/null || { slurmd && touch "$STATE/started_slurmd"; }
    for _ in $(seq 1 30); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle'; then
            echo "slurm_cluster: up: $(sinfo -h -o '%P %D nodes %c CPUs %m MB %T')"
            return
        fi
        sleep 1
    done
    cat "$STATE/log/"*.log >&2 || true
    cannot "the node did not become idle within 30 s"
}

stop() {
    for d in slurmd slurmctld munged; do
        if [ -e "$STATE/started_$d" ]; then
            pkill -x "$d" || true
            rm -f "$STATE/started_$d"
        fi
    done
    echo "slurm_cluster: stopped the daemons it had started"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
