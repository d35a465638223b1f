#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh BUILD [--quick]: runs procpool, Python's executors and the raw
# ring in one go (unloaded, then with one busy-looping process per CPU for the
# loaded figures), then prints the side-by-side table and writes
# BUILD/bench/results.json and BUILD/bench/chart.png. The raw figures go to
# BUILD/bench/results.jsonl, not to the terminal.
#
# A benchmark on a busy machine reads low, so the run says how busy it was:
# the load average before and after, and the CPU time other processes took
# while it ran (the machine's busy time from /proc/stat, steal included,
# less what this run's own processes used). It warns when the load average
# before the run was above the number of CPUs, or when other processes took
# more than a tenth of the machine meanwhile.
set -euo pipefail
case "${1:-}" in
-h | --help)
    echo "usage: bash bench/run.sh [BUILD] [--quick]   (make bench [BENCH_ARGS=--quick])"
    echo "  8 min 20 s on a 2-core machine that other jobs kept half busy; --quick 3 min 35 s there"
    exit 0
    ;;
esac
build=${1:-build}
shift || true
out="$build/bench"
cpus=$(nproc)
workers=$cpus
[ "$workers" -gt 2 ] && workers=2 # the comparison is made at 2 workers
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
results="$out/results.jsonl"
: >"$results"

# busy CPU time of the whole machine so far, in clock ticks (user nice system irq softirq steal)
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU time this shell's finished children used so far, in clock ticks
own_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

load_before=$(load1)
busy0=$(busy_ticks)
own0=$(own_ticks)
start=$(date +%s)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($cpus CPUs)"

step() { # step NAME COMMAND...: runs a part, its JSON lines into the results file
    local name=$1 before
    shift
    before=$(wc -l <"$results")
    printf '%s... ' "$name"
    "$@" >>"$results"
    echo "$(($(wc -l <"$results") - before)) figures"
}
step "procpool (workers=$workers)" "$out/procpool_bench" --workers "$workers" "$@"
step "raw shared-memory ring" "$out/ring_pingpong"
step "Python executors" "$python" bench/python_bench.py "$workers" "$@"
load=()
for _ in $(seq "$cpus"); do
    (while :; do :; done) &
    load+=($!)
done
step "Python executors under load" "$python" bench/python_bench.py "$workers" --loaded "$@" || true
kill "${load[@]}" 2>/dev/null
wait "${load[@]}" 2>/dev/null || true

secs=$(($(date +%s) - start))
ticks=$(getconf CLK_TCK)
others=$((($(busy_ticks) - busy0) - ($(own_ticks) - own0)))
[ "$others" -lt 0 ] && others=0
share=$(awk -v o="$others" -v t="$ticks" -v s="$secs" -v c="$cpus" 'BEGIN{printf "%.0f", (s > 0 ? 100 * o / t / (s * c) : 0)}')
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (this run's own processes included)"
echo "other processes used $((others / ticks)) CPU-seconds of the $((secs * cpus)) this machine had in the ${secs} s of the run ($share %)"
if awk -v l="$load_before" -v c="$cpus" 'BEGIN{exit !(l > c)}' || [ "$share" -gt 10 ]; then
    echo
    echo "WARNING: the machine was busy (load average $load_before before the run on $cpus CPUs, other processes"
    echo "WARNING: took $share % of it during the run). Figures read low and targets may read NOT met because"
    echo "WARNING: of that; run again on a quiet machine before drawing conclusions."
fi
echo
echo "Machine: $cpus CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB"
echo
$python bench/report.py "$results" "$out/results.json" "$out/chart.png"
echo
echo "Raw figures: $results; table and figures as JSON: $out/results.json; chart: $out/chart.png"
