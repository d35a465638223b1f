# SPDX-License-Identifier: MIT
"""python_bench: the Python side of `make bench`.

Runs the same workloads as procpool_bench on concurrent.futures.ProcessPoolExecutor
("ppe") and multiprocessing.Pool ("mp_pool") and prints one JSON object per line.
Counts are smaller than procpool's (Python is ~100x slower per task); rates are
per second either way, and timings are medians.
"""
import gc
import json
import multiprocessing as mp
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor, wait

WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2
QUICK = "--quick" in sys.argv
LOADED = "--loaded" in sys.argv  # the caller keeps every CPU busy meanwhile: tiny tasks and round trips only
SUFFIX = "_loaded" if LOADED else ""


def emit(impl, bench, value, unit):
    print(json.dumps({"impl": impl, "bench": bench + SUFFIX, "value": value, "unit": unit, "workers": WORKERS}),
          flush=True)


def square(n):
    return n * n


def echo(b):
    return b


def tiny_and_roundtrip(impl, call):
    """call(fn, arg) submits one task and returns something with the result as
    call(...)(); the tiny-task and round-trip workloads for either executor."""
    n = 5000 if QUICK else 20000
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        pending = [call(square, i) for i in range(n)]
        for get in pending:
            get()
        rates.append(n / (time.perf_counter() - t0))
    emit(impl, "tiny_tasks", statistics.median(rates), "tasks/s")

    lat = []
    for i in range(1000 if QUICK else 3000):
        t0 = time.perf_counter()
        call(square, i)()
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    emit(impl, "roundtrip_median", lat[len(lat) // 2], "us")
    emit(impl, "roundtrip_p99", lat[len(lat) * 99 // 100], "us")


def batches(impl, submit):
    """Large payloads in flight: n echoes submitted, then collected. As in
    procpool_bench, the first batch apart and the median of the next three."""
    for size, n, name in ((1 << 20, 100 if QUICK else 400, "1MiB_x400"), (16 << 20, 10 if QUICK else 40, "16MiB_x40")):
        rates = []
        for _ in range(4):
            t0 = time.perf_counter()
            results = [submit(bytes([i % 256]) * size) for i in range(n)]
            for i, result in enumerate(results):
                assert result()[-1] == i % 256
            rates.append(n / (time.perf_counter() - t0))
        emit(impl, "batch_" + name, statistics.median(rates[1:]), "roundtrips/s")
        emit(impl, "batch_" + name + "_first", rates[0], "roundtrips/s")


def ppe_benches():
    with ProcessPoolExecutor(WORKERS) as ex:
        list(ex.map(square, range(100)))  # start the workers
        tiny_and_roundtrip("ppe", lambda fn, arg: ex.submit(fn, arg).result)

        items = list(range(1000000 if QUICK else 10000000))
        t0 = time.perf_counter()
        out = list(ex.map(square, items, chunksize=1000))
        emit("ppe", "map_10M_chunk1000", len(items) / (time.perf_counter() - t0), "items/s")
        assert out[12345] == 12345 * 12345
        del items, out

        strings = [chr(97 + i % 26) * (1 + i % 64 if i % 64 < 63 else 63) for i in range(200000 if QUICK else 1000000)]
        t0 = time.perf_counter()
        lens = list(ex.map(len, strings, chunksize=1000))
        emit("ppe", "stream_ordered_1M_var", len(strings) / (time.perf_counter() - t0), "items/s")
        assert lens[70] == len(strings[70])
        del strings, lens

        batches("ppe", lambda arg: ex.submit(echo, arg).result)

        for size, name, reps in ((1024, "1KiB", 2000), (1 << 20, "1MiB", 200), (64 << 20, "64MiB", 4)):
            payload = b"\x5a" * size
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(reps if not QUICK else max(2, reps // 5)):
                    assert len(ex.submit(echo, payload).result()) == size
                times.append((time.perf_counter() - t0) / (reps if not QUICK else max(2, reps // 5)))
            per = statistics.median(times)
            emit("ppe", "echo_" + name, 1 / per, "roundtrips/s")
            emit("ppe", "echo_" + name + "_gbps", 2 * size / per / 1e9, "GB/s")

        m = 20000
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fs = [ex.submit(square, i) for i in range(m)]
        wait(fs)
        gc.collect()
        emit("ppe", "bytes_per_future", (tracemalloc.get_traced_memory()[0] - before) / m, "bytes")
        tracemalloc.stop()


def mp_benches():
    with mp.Pool(WORKERS) as pool:
        pool.map(square, range(100))
        tiny_and_roundtrip("mp_pool", lambda fn, arg: pool.apply_async(fn, (arg,)).get)

        items = list(range(1000000 if QUICK else 10000000))
        rates = []
        for _ in range(1 if QUICK else 3):
            t0 = time.perf_counter()
            out = pool.map(square, items, chunksize=1000)
            rates.append(len(items) / (time.perf_counter() - t0))
        emit("mp_pool", "map_10M_chunk1000", statistics.median(rates), "items/s")
        assert out[12345] == 12345 * 12345
        del items, out

        strings = [chr(97 + i % 26) * (1 + i % 64 if i % 64 < 63 else 63) for i in range(200000 if QUICK else 1000000)]
        t0 = time.perf_counter()
        total = sum(pool.imap_unordered(len, strings, chunksize=1000))
        emit("mp_pool", "stream_unordered_1M_var", len(strings) / (time.perf_counter() - t0), "items/s")
        assert total == sum(len(s) for s in strings)
        del strings

        batches("mp_pool", lambda arg: pool.apply_async(echo, (arg,)).get)


if __name__ == "__main__":
    if "--help" in sys.argv:
        print("usage: python_bench.py [WORKERS] [--quick] [--loaded]")
        sys.exit(0)
    if LOADED:
        with ProcessPoolExecutor(WORKERS) as ex:
            list(ex.map(square, range(100)))
            tiny_and_roundtrip("ppe", lambda fn, arg: ex.submit(fn, arg).result)
    else:
        ppe_benches()
        mp_benches()
