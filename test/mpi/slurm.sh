#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test/mpi/slurm.sh MPI_TEST "MPIRUN": the cluster suite under Slurm (make
# test-slurm). Starts a one-node Slurm in a temporary folder (munged with its
# own key and socket, slurmctld and slurmd on free ports, SLURM_CONF pointing
# there), runs the suite under srun --mpi=pmix, then the stopped-agent
# check under srun (a step cannot lose a rank: the stop is waited out), then
# the lost-agent check under salloc + mpirun --enable-recovery, then stops
# every daemon by its pid and removes the folder, whatever happened.
set -euo pipefail
test_bin=$(realpath "${1:?usage: slurm.sh MPI_TEST MPIRUN}")
mpirun=${2:-mpirun --allow-run-as-root --oversubscribe --bind-to none}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
for tool in munged slurmctld slurmd srun salloc sinfo; do
    command -v "$tool" >/dev/null || { echo "test-slurm: $tool is missing (slurm-wlm, munge)"; exit 1; }
done

dir=$(mktemp -d /tmp/pp-slurm.XXXXXX)
chmod 755 "$dir"
pids=()
stop() {
    for f in "${pids[@]}"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        $sudo kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do $sudo kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        $sudo kill -9 "$pid" 2>/dev/null || true
    done
    $sudo rm -rf "$dir"
}
trap stop EXIT

# a free TCP port from 20000 up
free_port() {
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

mkdir -p "$dir/munge" "$dir/spool" "$dir/state" "$dir/log" "$dir/run"
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
$sudo munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed"
pids+=("$dir/munge/munged.pid")

node=$(hostname -s)
ctld_port=$(free_port $((20000 + RANDOM % 10000)))
slurmd_port=$(free_port $((ctld_port + 1)))
cat >"$dir/slurm.conf" <<EOF
ClusterName=procpool
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=pp Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
$sudo env SLURM_CONF="$SLURM_CONF" slurmctld
pids+=("$dir/run/slurmctld.pid")
$sudo env SLURM_CONF="$SLURM_CONF" slurmd
pids+=("$dir/run/slurmd.pid")
for i in $(seq 300); do
    [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
    [ "$i" -eq 300 ] && { echo "test-slurm: the node never came up"; tail -20 "$dir"/log/*.log; exit 1; }
    sleep 0.1
done
echo "test-slurm: slurmctld and slurmd up (SLURM_CONF=$SLURM_CONF)"

# 4 tasks on this machine's CPUs (-O: more tasks than CPUs), each given every
# CPU (-c; task/affinity confines a task to the CPUs allocated to it, and
# the suite checks that no agent finds itself on one CPU)
cpus=$(nproc)
timeout 600 srun -n 4 -O -c "$cpus" --cpu-bind=none --mpi=pmix "$test_bin"
# an agent stopped for 2.5 s, then resumed: a step that lost a rank would
# end, so the master waits the stop out and every task succeeds
timeout 300 srun -n 4 -O -c "$cpus" --cpu-bind=none --mpi=pmix "$test_bin" --stop-agent
# one agent's death ends an srun step (Slurm's pmix plugin kills the step):
# the recovery runs under mpirun --enable-recovery inside an allocation
timeout 300 salloc -n 4 -O -c "$cpus" $mpirun --enable-recovery -n 4 "$test_bin" --lose-agent
echo "test-slurm: passed"
