#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh BUILD [--quick]: runs procpool, Python's executors and the raw
# ring in one go, then prints the side-by-side table and writes
# BUILD/bench/results.json and BUILD/bench/chart.png.
set -euo pipefail
build=${1:-build}
shift || true
out="$build/bench"
workers=$(nproc)
[ "$workers" -gt 2 ] && workers=2   # the comparison is made at 2 workers
results="$out/results.jsonl"
: > "$results"
echo "procpool (workers=$workers)..." >&2
"$out/procpool_bench" --workers "$workers" "$@" | tee -a "$results" >&2
echo "raw shared-memory ring..." >&2
"$out/ring_pingpong" | tee -a "$results" >&2
echo "Python executors..." >&2
python3 bench/python_bench.py "$workers" "$@" | tee -a "$results" >&2
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB"
echo
python3 bench/report.py "$results" "$out/results.json" "$out/chart.png"
