#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/mpi/run.sh BUILD "MPIRUN" [--quick]: the cluster pool against
# mpi4py.futures on 4 ranks (a master and 3 agents or workers), in one go,
# then the side-by-side table with the issue's targets (make bench-mpi).
set -euo pipefail
case "${1:-}" in
-h | --help)
    echo "usage: bash bench/mpi/run.sh [BUILD] [MPIRUN] [--quick]   (make bench-mpi [BENCH_ARGS=--quick])"
    echo "  4 ranks; about two minutes on 2 cores"
    exit 0
    ;;
esac
build=${1:-build}
mpirun=${2:-mpirun --allow-run-as-root --oversubscribe --bind-to none}
shift 2 || shift $#
out="$build/bench"
mkdir -p "$out"
results="$out/mpi_results.jsonl"
: >"$results"
echo "procpool cluster pool..." >&2
$mpirun -n 4 "$out/mpi_bench" "$@" | tee -a "$results" >&2
echo "procpool: an agent rank lost (--enable-recovery)..." >&2
$mpirun --enable-recovery -n 4 "$out/mpi_bench" --loss 2>/dev/null | tee -a "$results" >&2
echo "mpi4py.futures..." >&2
$mpirun -n 4 /usr/bin/python3 -m mpi4py.futures bench/mpi/mpi4py_bench.py "$@" | tee -a "$results" >&2
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; 4 ranks"
echo
/usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fig = {(r["impl"], r["metric"]): r["value"] for r in rows}
def both(m):
    return fig.get(("procpool", m)), fig.get(("mpi4py.futures", m))
table = [  # (name, metric, kind, target): ratio: procpool / mpi4py at least; max, min: procpool's own figure
    ("tiny tasks/s", "tiny", "ratio", 100),
    ("serial round trip, median us", "roundtrip", "max", 30),
    ("map items/s, chunksize 1000", "map", "ratio", 10),
    ("map items/s, chunksize 1 (10^6 items)", "map1", "min", 200000),
    ("1 MiB echoes/s, 400 in flight", "echo1m", "ratio", 5),
    ("idle master, % CPU over 2 s", "idle_master", "max", 1),
    ("idle agent (busiest), % CPU over 2 s", "idle_agent", "max", 1),
    ("CPU-bound 600 x 5 ms, local pool time / cluster time", "cpu", "min", 0.95),
    ("master memory, 256 MiB echo in flight, x its size", "inflight", "max", 1.5),
    ("agent loss detected, ms", "loss_detect", "max", 1000),
    ("pp_pool_destroy after the loss, ms", "loss_destroy", "max", 1000),
]
print("| figure | procpool | mpi4py.futures | procpool better by | target | met |")
print("|---|---:|---:|---:|---|---|")
for name, m, kind, target in table:
    p, q = both(m)
    if p is None:
        continue
    better = "-"  # rates: higher is better; times and CPU: lower is
    if q and p and m in ("tiny", "map", "map1", "echo1m"):
        better = f"{p / q:.1f}x"
    elif q and p and m in ("roundtrip", "idle_master", "idle_agent"):
        better = f"{q / p:.1f}x"
    if kind == "ratio":
        ok = bool(q) and p / q >= target
        want = f">= {target}x"
    elif kind == "max":
        ok = p <= target
        want = f"<= {target:,}"
    else:
        ok = p >= target
        want = f">= {target:,}"
    qs = f"{q:,.1f}" if q is not None else "-"
    ps = f"{p:,.2f}" if p < 10 else f"{p:,.1f}"
    print(f"| {name} | {ps} | {qs} | {better} | {want} | {'met' if ok else 'NOT met'} |")
PY
