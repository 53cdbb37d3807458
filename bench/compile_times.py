#!/usr/bin/env python3
"""Measures what including each public header costs a translation unit, and writes the table into a markdown file.

For every header listed below, a TU that includes only that header (plus, for the dispatch header, one call) is
compiled with `g++ -std=c++20 -O2 -c` three times for each instruction-set flag set; the table shows the
fastest wall time of the three (the least disturbed by other work on the machine) and the preprocessed size.

  python3 bench/compile_times.py [--cxx g++] [--out docs/kernels.md]

The table replaces the text between the markers `<!-- compile-times:begin -->` and `<!-- compile-times:end -->`
of the output file.
"""
import argparse
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADERS = [
    ("mvq/mvq.hpp", "the umbrella header"),
    ("mvq/core/core.hpp", "core: configurations, compressed matrix, executor"),
    ("mvq/io/io.hpp", "io: safetensors, npy, .mvq.safetensors"),
    ("mvq/quant/quant.hpp", "quant: k-means, MVQ, compress"),
    ("mvq/kernel/kernel.hpp", "kernel: every kernel policy"),
    ("mvq/kernel/any_layer.hpp", "kernel: `pack` + `any_packed` (one call of gemv instantiated)"),
    ("mvq/kernel/dispatch.hpp", "kernel: opt-in runtime dispatch"),
    ("mvq/hw/hw.hpp", "hw: the emulator"),
]
CALLS = {
    "mvq/kernel/any_layer.hpp":
        "int run(mvq::compressed_matrix_view const& v, const float* x, float* y) {\n"
        "  auto p = mvq::kernel::pack(v);\n"
        "  if (!p) return 1;\n"
        "  return mvq::kernel::gemv(*p, std::span<const float>(x, p->cols()), std::span<float>(y, p->rows())) ? 0 : 1;\n"
        "}\n",
}
FLAGS = [("baseline", []), ("-mavx2 -mfma", ["-mavx2", "-mfma"])]


def include_flags():
    return ["-I", str(ROOT / "include")]


def cpu_name():
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(cxx, header, extra):
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "tu.cpp"
        body = f'#include <span>\n#include "{header}"\n' + CALLS.get(header, "")
        src.write_text(body, encoding="utf-8")
        cmd = [cxx, "-std=c++20", "-O2", *extra, *include_flags(), "-c", str(src), "-o", str(pathlib.Path(tmp) / "tu.o")]
        best = None
        for _ in range(3):
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                return None, r.stderr[:2000]
            best = dt if best is None else min(best, dt)
        pre = subprocess.run([cxx, "-std=c++20", *extra, *include_flags(), "-E", str(src)], capture_output=True, text=True)
        lines = pre.stdout.count("\n")
        return (best, lines), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "kernels.md"))
    a = ap.parse_args()
    version = subprocess.run([a.cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    rows = []
    for header, what in HEADERS:
        if not (ROOT / "include" / header).exists():
            continue
        cells = []
        lines = None
        for _, extra in FLAGS:
            res, err = measure(a.cxx, header, extra)
            if res is None:
                print(f"{header}: compile failed\n{err}", file=sys.stderr)
                return 1
            cells.append(f"{res[0]:.2f} s")
            lines = res[1]
        rows.append(f"| `{header}` | {what} | " + " | ".join(cells) + f" | {lines:,} |")
        print(rows[-1])
    table = "\n".join([
        f"Measured by `python3 bench/compile_times.py` with {version} on {cpu_name()} ({os.cpu_count()} cores): "
        "a TU that includes only the header, `-std=c++20 -O2 -c`, fastest of 3.",
        "",
        "| header | what | baseline | -mavx2 -mfma | preprocessed lines |",
        "|---|---|---|---|---|",
        *rows,
    ])
    out = pathlib.Path(a.out)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    begin, end = "<!-- compile-times:begin -->", "<!-- compile-times:end -->"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), begin + "\n" + table + "\n" + end, text, flags=re.S)
    else:
        text += "\n" + begin + "\n" + table + "\n" + end + "\n"
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
