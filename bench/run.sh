#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh BUILD [--quick]: runs procpool, Python's executors and the raw
# ring in one go (unloaded, then with one busy-looping process per CPU for the
# loaded figures), then prints the side-by-side table and writes
# BUILD/bench/results.json and BUILD/bench/chart.png.
set -euo pipefail
case "${1:-}" in
-h | --help)
    echo "usage: bash bench/run.sh [BUILD] [--quick]   (make bench [BENCH_ARGS=--quick])"
    echo "  about 3 minutes on 2 cores; --quick about one minute"
    exit 0
    ;;
esac
build=${1:-build}
shift || true
out="$build/bench"
workers=$(nproc)
[ "$workers" -gt 2 ] && workers=2 # the comparison is made at 2 workers
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
results="$out/results.jsonl"
: >"$results"
echo "procpool (workers=$workers)..." >&2
"$out/procpool_bench" --workers "$workers" "$@" | tee -a "$results" >&2
echo "raw shared-memory ring..." >&2
"$out/ring_pingpong" | tee -a "$results" >&2
echo "Python executors..." >&2
$python bench/python_bench.py "$workers" "$@" | tee -a "$results" >&2
echo "Python executors under load..." >&2
load=()
for _ in $(seq "$(nproc)"); do
    (while :; do :; done) &
    load+=($!)
done
$python bench/python_bench.py "$workers" --loaded "$@" | tee -a "$results" >&2 || true
kill "${load[@]}" 2>/dev/null
wait "${load[@]}" 2>/dev/null || true
echo
echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB"
echo
$python bench/report.py "$results" "$out/results.json" "$out/chart.png"
