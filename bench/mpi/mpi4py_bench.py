# SPDX-License-Identifier: MIT
"""The anchor for bench/mpi/mpi_bench.c: the same figures from mpi4py.futures.
Run as: mpirun -n 4 /usr/bin/python3 -m mpi4py.futures bench/mpi/mpi4py_bench.py [--quick]
Rank 0 runs this script; the other ranks are the executor's workers."""
import json
import os
import statistics
import sys
import time

from mpi4py.futures import MPIPoolExecutor

QUICK = "--quick" in sys.argv
DIV = 10 if QUICK else 1


def nothing(_=None):
    return None


def square(x):
    return x * x


def echo(b):
    return b


def getpid(_):
    time.sleep(0.01)  # long enough that every worker takes some
    return os.getpid()


def emit(metric, value, unit):
    print(json.dumps({"impl": "mpi4py.futures", "metric": metric, "value": value, "unit": unit}), flush=True)


def cpu_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def idle_cpu(ex, seconds=2.0):
    """CPU % of rank 0 and of the busiest worker rank over an idle pause."""
    pids = set(ex.map(getpid, range(64)))  # the workers' pids
    before = {p: cpu_of(p) for p in pids}
    t0, c0 = time.monotonic(), time.process_time()
    time.sleep(seconds)
    wall, master = time.monotonic() - t0, time.process_time() - c0
    busiest = max((cpu_of(p) - before[p]) / wall * 100 for p in pids if before[p] is not None)
    emit("idle_master", master / wall * 100, "% CPU")
    emit("idle_agent", busiest, "% CPU")


def main():
    with MPIPoolExecutor() as ex:
        list(ex.map(nothing, range(2000)))  # warm up
        idle_cpu(ex)
        n = 20000 // DIV
        t0 = time.monotonic()
        fs = [ex.submit(nothing) for _ in range(n)]
        for f in fs:
            f.result()
        emit("tiny", n / (time.monotonic() - t0), "tasks/s")
        times = []
        for _ in range(2000 // DIV):
            t0 = time.monotonic()
            ex.submit(nothing).result()
            times.append((time.monotonic() - t0) * 1e6)
        emit("roundtrip", statistics.median(times), "us")
        n = 1000000 // DIV
        t0 = time.monotonic()
        out = list(ex.map(square, range(n), chunksize=1000))
        emit("map", n / (time.monotonic() - t0), "items/s")
        assert out[999] == 999 * 999
        n = 20000 // DIV  # chunksize 1: one task per item (10^6 would take minutes)
        t0 = time.monotonic()
        out = list(ex.map(square, range(n), chunksize=1))
        emit("map1", n / (time.monotonic() - t0), "items/s")
        buf = bytes(1 << 20)
        n = 400 // DIV
        rates = []
        for _ in range(3):  # a batch job runs batch after batch: the median of three
            t0 = time.monotonic()
            fs = [ex.submit(echo, buf) for _ in range(n)]
            for f in fs:
                assert len(f.result()) == len(buf)
            rates.append(n / (time.monotonic() - t0))
        emit("echo1m", statistics.median(rates), "echoes/s")


if __name__ == "__main__":
    main()
