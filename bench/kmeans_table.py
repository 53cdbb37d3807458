#!/usr/bin/env python3
"""Turns the JSON output of bench_kmeans (--benchmark_out=FILE --benchmark_out_format=json) into the
markdown table of bench/kmeans.md: per data set and d, FAISS and mvq CPU seconds per iteration, the speed-up,
the final MSE of both, and the masked (2:4) / plain time ratio."""
import json
import sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    parts = b["name"].split("/")
    kind, data, d = parts[0], parts[1], int(parts[2].split(":")[1])
    rows.setdefault((data, d), {})[kind] = b

print("| data | d | n | FAISS s/iter | mvq s/iter | speed-up | FAISS MSE | mvq MSE | MSE ratio | masked 2:4 s/iter | masked / plain |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (data, d), r in sorted(rows.items(), key=lambda kv: (kv[0][0] != "laplace", kv[0][1])):
    f, m, k = r.get("BM_kmeans_faiss"), r.get("BM_kmeans_mvq"), r.get("BM_kmeans_mvq_masked")
    if not f or not m:
        continue
    cells = [data, str(d), str(int(m["n"])), f"{f['s_per_iter']:.4f}", f"{m['s_per_iter']:.4f}",
             f"{f['s_per_iter'] / m['s_per_iter']:.2f}×", f"{f['mse']:.6g}", f"{m['mse']:.6g}",
             f"{m['mse'] / f['mse']:.5f}"]
    cells += [f"{k['s_per_iter']:.4f}", f"{k['s_per_iter'] / m['s_per_iter']:.2f}"] if k else ["–", "–"]
    print("| " + " | ".join(cells) + " |")
