# SPDX-License-Identifier: MIT
"""report: turns the JSON lines of one `make bench` run into the side-by-side
table (printed as Markdown), a JSON file and a PNG chart.

    python3 bench/report.py RESULTS.jsonl OUT.json OUT.png
"""
import json
import os
import subprocess
import sys
import tempfile

ROWS = [  # bench key, label, higher is better, target as (anchor impl, ratio) or None
    ("tiny_tasks", "tiny tasks, submit all then collect (tasks/s)", True, ("ppe", 300)),
    ("roundtrip_median", "serial round trip, median (us)", False, ("ppe", 50)),
    ("roundtrip_p99", "serial round trip, p99 (us)", False, None),
    ("map_10M_chunk1000", "map 10 M ints, chunksize 1000 (items/s)", True, ("mp_pool", 20)),
    ("stream_ordered_1M_var", "streaming map, 1 M strings of 1-64 B, ordered (items/s)", True, None),
    ("stream_unordered_1M_var", "streaming map, same, unordered (items/s)", True, ("mp_pool", 0)),
    ("stream_pulled_1M_var", "streaming map, same strings pulled one by one, ordered (items/s)", True, None),
    ("map_1M_padded64", "pp_map over the same strings padded to 64 B (items/s)", True, None),
    ("batch_1MiB_x400", "400 × 1 MiB in flight, submit all then collect (round trips/s)", True, ("ppe", 10)),
    ("batch_1MiB_x400_buffer", "the same with pp_submit_buffer (round trips/s)", True, ("ppe", 10)),
    ("batch_1MiB_x400_first", "400 × 1 MiB, the first batch of a fresh pool (round trips/s)", True, None),
    ("batch_16MiB_x40", "40 × 16 MiB in flight (round trips/s)", True, ("ppe", 10)),
    ("batch_16MiB_x40_buffer", "the same with pp_submit_buffer (round trips/s)", True, ("ppe", 10)),
    ("batch_16MiB_x40_first", "40 × 16 MiB, the first batch of a fresh pool (round trips/s)", True, None),
    ("echo_1KiB", "echo 1 KiB (round trips/s)", True, None),
    ("echo_1MiB", "echo 1 MiB (round trips/s)", True, ("ppe", 10)),
    ("echo_64MiB", "echo 64 MiB (round trips/s)", True, None),
    ("echo_1MiB_gbps", "echo 1 MiB (GB/s copied)", True, None),
    ("echo_64MiB_gbps", "echo 64 MiB (GB/s copied)", True, None),
    ("idle_cpu_percent", "idle pool, CPU over 2 s (%)", False, None),
    ("tiny_tasks_loaded", "loaded (a busy process per CPU): tiny tasks (tasks/s)", True, ("ppe", 50)),
    ("roundtrip_median_loaded", "loaded: serial round trip, median (us)", False, ("ppe", 50)),
    ("bytes_per_future", "master memory per outstanding future (bytes)", False, None),
    ("pull_10M_items", "pulled stream of 10 M items, chunksize 1000 (items/s)", True, None),
    ("pull_10M_peak_rss", "the same: the master's peak resident memory (MiB)", False, None),
    ("pull_10M_rss_growth", "the same: its growth during the stream (MiB)", False, None),
]
SELF = {  # rows compared with another procpool row of the same run: key: (other key, its name)
    "stream_pulled_1M_var": ("stream_ordered_1M_var", "array input"),
}
RESIDENT = [1, 16, 64, 256]  # MiB: resident_<n>MiB_copied / _buffer
RESIDENT_TARGET = 1.25  # resident bytes per byte of payload (argument + result)
CHART = {  # short labels for the chart
    "tiny_tasks": "tiny tasks", "roundtrip_median": "round trip, median", "roundtrip_p99": "round trip, p99",
    "map_10M_chunk1000": "map, 10 M ints", "stream_ordered_1M_var": "streaming map, ordered",
    "stream_unordered_1M_var": "streaming map, unordered", "batch_1MiB_x400": "400 x 1 MiB in flight",
    "batch_1MiB_x400_buffer": "400 x 1 MiB, zero-copy", "batch_1MiB_x400_first": "400 x 1 MiB, first batch",
    "batch_16MiB_x40": "40 x 16 MiB in flight", "batch_16MiB_x40_buffer": "40 x 16 MiB, zero-copy",
    "batch_16MiB_x40_first": "40 x 16 MiB, first batch", "echo_1KiB": "echo 1 KiB", "echo_1MiB": "echo 1 MiB",
    "echo_64MiB": "echo 64 MiB", "tiny_tasks_loaded": "loaded: tiny tasks",
    "roundtrip_median_loaded": "loaded: round trip", "bytes_per_future": "memory per future",
}
IMPLS = ["procpool", "ppe", "mp_pool", "raw_ring", "memcpy"]
NAMES = {"procpool": "procpool", "ppe": "ProcessPoolExecutor", "mp_pool": "multiprocessing.Pool",
         "raw_ring": "raw shm ring", "memcpy": "memcpy ceiling (2 copies)"}


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f} k"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def main():
    src, out_json, out_png = sys.argv[1:4]
    data, cpu = {}, []
    with open(src) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r["bench"].startswith("cpu_") and not r["bench"].endswith("_loaded"):
                cpu.append(r)
            else:
                data[(r["impl"], r["bench"])] = r["value"]
    lines = ["| workload | " + " | ".join(NAMES[i] for i in IMPLS) + " | procpool vs anchor | target |",
             "|---|" + "---|" * (len(IMPLS) + 2)]
    chart = []
    for key, label, higher, target in ROWS:
        base = key.replace("_buffer", "")  # the anchors ran the plain workload
        vals = [data.get((i, key)) if i == "procpool" else data.get((i, base)) for i in IMPLS]
        if vals[0] is None:
            continue
        ratio_txt, target_txt = "", ""
        anchor = target[0] if target else "ppe"
        a = data.get((anchor, base))
        ceiling = data.get(("memcpy", base))
        if ceiling:
            pct = f"{100 * vals[0] / ceiling:.0f} % of the memcpy ceiling"
        if a:
            ratio = vals[0] / a if higher else a / vals[0]
            ratio_txt = f"{ratio:.0f}× {NAMES[anchor]}" if ratio >= 10 else f"{ratio:.2f}× {NAMES[anchor]}"
            if not key.endswith("_gbps"):  # the same ratio as the round trips
                name = CHART.get(key, label.split(" (")[0])
                chart.append((name + (" (vs Pool)" if anchor == "mp_pool" else ""), ratio))
            if target and target[1]:
                target_txt = f"≥ {target[1]}×: " + ("met" if ratio >= target[1] else "NOT met")
        if key in SELF and data.get(("procpool", SELF[key][0])):
            ratio_txt = f"{vals[0] / data[('procpool', SELF[key][0])]:.2f}× {SELF[key][1]}"
        if ceiling:
            want = 60 if key.endswith("_buffer") else 40 if "1MiB" in key else 50
            target_txt += f"; {pct} (≥ {want} %: {'met' if vals[0] >= want / 100 * ceiling else 'NOT met'})"
        lines.append(f"| {label} | " + " | ".join(fmt(v) for v in vals) + f" | {ratio_txt} | {target_txt} |")
    eff = [r for r in cpu if r["bench"].endswith("efficiency")]
    for r in eff:
        ok = "met" if r["workers"] < 2 or r["value"] >= 0.92 else "NOT met"
        lines.append(f"| CPU-bound 5 ms tasks, {r['workers']} worker(s): efficiency | {r['value']:.3f} | – | – | – | "
                     f"speedup {r['value'] * r['workers']:.2f}× | ≥ 0.92 (2 workers): {ok} |")
    split = data.get(("procpool", "cpu_5ms_vs_static_split_loaded"))
    if split is not None:
        lines.append(f"| loaded: CPU-bound 5 ms tasks, pool time vs a static split over forked processes | "
                     f"{split:.3f} | – | – | – | – | ≥ 0.9: {'met' if split >= 0.9 else 'NOT met'} |")
    for mib in RESIDENT:
        for mode, how in (("copied", "copied argument"), ("buffer", "pp_submit_buffer")):
            r = data.get(("procpool", f"resident_{mib}MiB_{mode}"))
            if r is not None:
                ok = "met" if r <= RESIDENT_TARGET else "NOT met"
                lines.append(f"| resident memory, one {mib} MiB echo, {how} (× argument + result) | {r:.2f}× | – | – | – "
                             f"| – | | ≤ {RESIDENT_TARGET}×: {ok} |")
    idle = data.get(("procpool", "idle_cpu_percent"))
    mem = data.get(("procpool", "bytes_per_future"))
    if idle is not None:
        lines.append(f"| target: idle pool < 1 % CPU | {idle:.2f} % | | | | | {'met' if idle < 1 else 'NOT met'} |")
    if mem is not None:
        lines.append(f"| target: ≤ 200 bytes per future | {mem:.0f} | | | | | {'met' if mem <= 200 else 'NOT met'} |")
    table = "\n".join(lines)
    print(table)

    with open(out_json, "w") as f:
        json.dump({"results": [{"impl": i, "bench": b, "value": v} for (i, b), v in sorted(data.items())],
                   "cpu": cpu, "table": table}, f, indent=1)

    if chart:
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as dat:
            for label, ratio in chart:
                dat.write(f'"{label}" {ratio} "{fmt(ratio)}x"\n')
        rows, low = len(chart), min(1, min(r for _, r in chart)) / 1.5
        script = f"""
set terminal pngcairo noenhanced size 1000,{140 + 26 * rows} font 'sans,10'
set output '{out_png}'
set title 'procpool against Python: how many times better (log scale)'
set logscale x
set xrange [{low}:*]
set yrange [{rows} - 0.5:-0.5]
set ytics nomirror scale 0
set grid xtics
set rmargin 8
set style fill solid 0.8
unset key
plot '{dat.name}' using (sqrt($2)):0:(1):2:($0 - 0.35):($0 + 0.35):ytic(1) with boxxyerror lc rgb '#3b6ea5', \\
     '' using 2:0:3 with labels left offset 0.5,0
"""
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"(no chart: {e})", file=sys.stderr)
        os.unlink(dat.name)


if __name__ == "__main__":
    main()
