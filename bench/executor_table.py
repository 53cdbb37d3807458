#!/usr/bin/env python3
"""Runs bench_executor and writes its results into bench/executor.md (between the results markers).

  python3 bench/executor_table.py [build/release/bench/bench_executor]
"""
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build/release/bench/bench_executor")
args = ["--benchmark_min_time=0.3", "--kmeans_iter=5"]
load_before = os.getloadavg()[0]
out = subprocess.run([binary, *args, "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
data = json.loads(out)
rows = {}
for b in data["benchmarks"]:
    m = re.match(r"(.+)/threads:(\d+)", b["name"])
    if not m:
        continue
    key, threads = m.group(1).replace("/", " "), int(m.group(2))
    unit = "us" if "us" in b else "ms"
    rows.setdefault(key, {})[threads] = (b[unit], unit, b.get("x_1thread", 0.0))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
lines = [
    f"Command: `python3 bench/executor_table.py` (runs `bench_executor {' '.join(args)}`).",
    f"Machine: {cpu}, {os.cpu_count()} cores; load average {load_before:.2f} before the run, "
    f"{os.getloadavg()[0]:.2f} after (other processes on the machine take cores from the second thread).",
    "",
    "| row | 1 thread | 2 threads | x_1thread (2 threads) |",
    "|---|---|---|---|",
]
for key, r in rows.items():
    if 1 in r and 2 in r:
        u = "µs" if r[1][1] == "us" else "ms"
        lines.append(f"| {key} | {r[1][0]:.1f} {u} | {r[2][0]:.1f} {u} | {r[2][2]:.2f} |")
table = "\n".join(lines)
md = ROOT / "bench" / "executor.md"
text = md.read_text(encoding="utf-8")
begin, end = "<!-- results:begin -->", "<!-- results:end -->"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), begin + "\n" + table + "\n" + end, text, flags=re.S)
else:
    text += "\n" + begin + "\n" + table + "\n" + end + "\n"
md.write_text(text, encoding="utf-8")
print(table)
