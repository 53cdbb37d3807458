#!/usr/bin/env python3
"""Output-aware compression on the shared pretrained weights, through `mvq compress --json`, written into
docs/quality.md between the calibration markers.

  python3 bench/calibration_study.py [--mvq build/release/examples/mvq_cli/mvq] [--models ../shared/models]
                                     [--threads 2] [--quick]

ppocr_det is calibrated with its calibration rows (ppocr_det_calib.safetensors); faceapi_resnet34 has no
calibration data and runs in zero-data mode (H = I, so its "output SNR" is the weight SQNR).
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
try:
    import numpy  # noqa: F401  (the held-out evaluation multiplies matrices)
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])  # Debian's python3-numpy (run.sh installs it)
    sys.exit("calibration_study.py needs numpy (Debian: python3-numpy)")
ap = argparse.ArgumentParser()
ap.add_argument("--mvq", default=str(ROOT / "build/release/examples/mvq_cli/mvq"))
ap.add_argument("--models", default=str(ROOT.parent / "shared/models"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--quick", action="store_true", help="fewer configurations (a smoke run; does not write the docs)")
args = ap.parse_args()
models = pathlib.Path(args.models)

VQ = ["--codebook", "i8"]  # GPTVQ's int8 codebooks, for every VQ method alike
def cfg(label, *extra):
    method = label.split()[0]
    out = ["--method", method]
    for tok in label.split()[1:]:
        if tok.startswith("K"):
            out += ["--k", tok[1:]]
        elif tok.startswith("d"):
            out += ["--d", tok[1:]]
        elif ":" in tok:
            out += ["--nm", tok]
        elif tok.endswith("-bit"):
            out += ["--bits", tok[:-4]]
        elif tok.startswith("g"):
            out += ["--group", tok[1:]]
        elif tok == "+ft":
            out += ["--finetune-codebook"]
    return (label, out + ([] if method == "gptq" else VQ) + list(extra))


# Rows at (about) the same bits/weight are listed together; the table gives the exact figure of each.
CONFIGS = [cfg(l) for l in [
    "kmeans K256 d4", "kmeans K256 d4 +ft", "gptvq K256 d4", "gptvq K256 d4 +ft", "vq4dit K256 d4",
    "mvq 2:4 K256 d4", "mvq 2:4 K256 d4 +ft", "gptvq 2:4 K256 d4", "gptvq 2:4 K256 d4 +ft",
    "kmeans K1024 d4", "gptvq K1024 d4", "gptq 3-bit",
    "kmeans K4096 d4", "kmeans K4096 d4 +ft", "gptvq K4096 d4", "gptvq K4096 d4 +ft", "gptq 4-bit", "gptq 4-bit g64",
    "gptvq 2:4 K4096 d4",
]]
if args.quick:
    CONFIGS = [c for c in CONFIGS if c[0] in ("kmeans K256 d4", "gptvq K256 d4", "gptq 4-bit")]
BUDGETS = [2.0, 2.5, 3.0, 4.0, 5.0, 6.0]
BUDGET_METHOD = cfg("gptvq K256 d4")[1]

tmp = pathlib.Path(tempfile.mkdtemp(prefix="mvq_study_"))


def compress(model, extra, out=None):
    """Runs mvq compress --json; returns (report, wall seconds)."""
    out = out or tmp / "out.mvq.safetensors"
    cmd = [args.mvq, "compress", str(model), "-o", str(out), "--json", "--threads", str(args.threads), *extra]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    stdout, stderr = p.stdout, p.stderr
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {stderr}")
    return json.loads(stdout), wall


def peak_rss(model, extra):
    """Peak resident memory (MiB) of one run, measured with wait4 on its own process."""
    out = tmp / "rss.mvq.safetensors"
    cmd = [args.mvq, "compress", str(model), "-o", str(out), "--threads", str(args.threads), *extra]
    pid = os.fork()
    if pid == 0:
        os.close(1)
        os.open(os.devnull, os.O_WRONLY)
        os.execv(cmd[0], cmd)
    _, status, ru = os.wait4(pid, 0)
    return ru.ru_maxrss / 1024.0


def read_safetensors(path):
    """{name: float32 array} of the F32 tensors of a safetensors file (numpy)."""
    import numpy as np
    blob = pathlib.Path(path).read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
    return out


def write_safetensors(path, tensors):
    header, data, off = {}, b"", 0
    for name, arr in tensors.items():
        raw = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    pathlib.Path(path).write_bytes(len(text).to_bytes(8, "little") + text + data)


def held_out(model, calib_path, extra):
    """Pooled output SNR on rows the calibration did not see: H from the first half of each layer's rows, the
    SNR measured on the second half (through `mvq decompress`)."""
    import numpy as np
    rows = read_safetensors(calib_path)
    first = {k: v[: len(v) // 2] for k, v in rows.items()}
    second = {k: v[len(v) // 2:] for k, v in rows.items()}
    half = tmp / "calib_first_half.safetensors"
    write_safetensors(half, first)
    out, dense = tmp / "held.mvq.safetensors", tmp / "held_dense.safetensors"
    rep, _ = compress(model, [*extra, "--calib", str(half)], out=out)
    p = subprocess.run([args.mvq, "decompress", str(out), "-o", str(dense)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"decompress failed: {p.stderr}")
    w, what = read_safetensors(model), read_safetensors(dense)
    num = den = 0.0
    for layer in rep["layers"]:
        name = layer["name"]
        if name not in second:
            continue
        x = second[name].astype(np.float64)
        a = w[name].reshape(w[name].shape[0], -1).astype(np.float64)
        b = what[name].reshape(a.shape).astype(np.float64)
        num += float(np.sum((x @ a.T) ** 2))
        den += float(np.sum((x @ (a - b).T) ** 2))
    return 10 * np.log10(num / den)


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


runs = [
    ("ppocr_det", models / "ppocr_det.safetensors", ["--calib", str(models / "ppocr_det_calib.safetensors")]),
    ("faceapi_resnet34", models / "faceapi_resnet34.safetensors", ["--zero-data"]),
]
for _, path, _ in runs:
    if not path.exists():
        sys.exit(f"{path} is missing")

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
load_before = os.getloadavg()[0]
sections = []
results = {}
for name, path, calib in runs:
    for label, extra in CONFIGS:
        rep, wall = compress(path, [*extra, *calib])
        results[(name, label)] = (rep, wall)
        print(f"{name} {label}: {rep['total']['bits_per_weight']:.3f} b/w, oSNR {rep['total']['output_snr_db']}, "
              f"{wall:.1f} s", file=sys.stderr)

# Pooled table.
lines = ["| model | configuration | layers | bits/weight | weight SQNR (dB) | output SNR (dB) | seconds |",
         "|---|---|---|---|---|---|---|"]
for name, _, _ in runs:
    for label, _ in CONFIGS:
        rep, wall = results[(name, label)]
        t = rep["total"]
        lines.append(f"| {name} | {label} | {len(rep['layers'])} | {t['bits_per_weight']:.3f} | {fmt(t['weight_sqnr_db'])} | "
                     f"{fmt(t['output_snr_db'])} | {wall:.1f} |")
sections.append(("Pooled over the compressed layers", "\n".join(lines)))

# The calibrated rows above are also the rows the SNR is measured on; this measures on rows H never saw.
HELD = [l for l in ("kmeans K256 d4", "kmeans K256 d4 +ft", "gptvq K256 d4", "gptvq K256 d4 +ft", "vq4dit K256 d4", "mvq 2:4 K256 d4",
                    "gptvq 2:4 K256 d4", "kmeans K4096 d4", "gptvq K4096 d4", "gptq 3-bit", "gptq 4-bit")
        if ("ppocr_det", l) in results]
held = ["| configuration | bits/weight | output SNR, calibration rows (dB) | output SNR, held-out rows (dB) |",
        "|---|---|---|---|"]
calib_path = models / "ppocr_det_calib.safetensors"
for label in HELD:
    extra = next(e for l, e in CONFIGS if l == label)
    t = results[("ppocr_det", label)][0]["total"]
    held.append(f"| {label} | {t['bits_per_weight']:.3f} | {fmt(t['output_snr_db'])} | "
                f"{held_out(runs[0][1], calib_path, extra):.2f} |")
sections.append(("ppocr_det on held-out rows: H from the first half of each layer's rows, SNR on the second half",
                 "\n".join(held)))

# Per-layer output SNR on the calibrated model, and the gptvq-vs-kmeans count at equal bits.
PER_LAYER = [l for l in ("kmeans K256 d4", "gptvq K256 d4", "gptvq K256 d4 +ft", "vq4dit K256 d4", "mvq 2:4 K256 d4",
                         "gptvq 2:4 K256 d4", "kmeans K4096 d4", "gptvq K4096 d4", "gptq 3-bit", "gptq 4-bit")
             if ("ppocr_det", l) in results]
per_layer = ["| layer | shape | H from | " + " | ".join(PER_LAYER) + " |", "|---|---|---|" + "---|" * len(PER_LAYER)]
base = results[("ppocr_det", PER_LAYER[0])][0]
for i, layer in enumerate(base["layers"]):
    cells = []
    for label in PER_LAYER:
        l = results[("ppocr_det", label)][0]["layers"][i]
        cells.append(f"{fmt(l['output_snr_db'], 1)} / {fmt(l['weight_sqnr_db'], 1)}")
    per_layer.append(f"| {layer['name']} | {'×'.join(map(str, layer['shape']))} | {layer['calibration']} | " +
                     " | ".join(cells) + " |")
sections.append(("ppocr_det per layer: output SNR / weight SQNR (dB)", "\n".join(per_layer)))

verdict = []
for a_label, b_label in [("gptvq K256 d4", "kmeans K256 d4"), ("gptvq K1024 d4", "kmeans K1024 d4"),
                         ("gptvq K4096 d4", "kmeans K4096 d4"), ("gptvq 2:4 K256 d4", "mvq 2:4 K256 d4")]:
    if ("ppocr_det", a_label) not in results or ("ppocr_det", b_label) not in results:
        continue
    ra, rb = results[("ppocr_det", a_label)][0], results[("ppocr_det", b_label)][0]
    calibrated = [i for i, l in enumerate(ra["layers"]) if l["calibration"] == "rows"]
    wins = sum(1 for i in calibrated if ra["layers"][i]["output_snr_db"] > rb["layers"][i]["output_snr_db"])
    gain = ra["total"]["output_snr_db"] - rb["total"]["output_snr_db"]
    verdict.append(f"- {a_label} vs {b_label} ({ra['total']['bits_per_weight']:.3f} vs "
                   f"{rb['total']['bits_per_weight']:.3f} bits/weight): higher output SNR on {wins} of "
                   f"{len(calibrated)} calibrated layers; pooled {gain:+.2f} dB.")
sections.append(("GPTVQ against k-means at equal bits (ppocr_det)", "\n".join(verdict)))

# Mixed precision.
if not args.quick:
    mp = ["| budget (bits/weight) | achieved | Σ relative output error (minimised) | pooled output SNR (dB) | "
          "configurations chosen |", "|---|---|---|---|---|"]
    calib = runs[0][2]
    for b in BUDGETS:
        rep, wall = compress(runs[0][1], [*BUDGET_METHOD, *calib, "--budget", str(b)])
        kinds = {}
        for l in rep["layers"]:
            kinds[l["config"]] = kinds.get(l["config"], 0) + 1
        rel = sum(10 ** (-l["output_snr_db"] / 10) for l in rep["layers"] if l["output_snr_db"] is not None)
        chosen = ", ".join(f"{n}× {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        mp.append(f"| {b:.1f} | {rep['total']['bits_per_weight']:.3f} | {rel:.4f} | "
                  f"{fmt(rep['total']['output_snr_db'])} | {chosen} |")
    sections.append(("Mixed precision on ppocr_det: gptvq d4 at K 16–4096, 8-bit GPTQ or dense per layer", "\n".join(mp)))

# Cost.
cost = ["| model | configuration | layers | total seconds | slowest layer | peak memory (MiB) |", "|---|---|---|---|---|---|"]
for name, path, calib in runs:
    for label in ("gptq 4-bit", "gptvq K4096 d4", "vq4dit K256 d4"):
        if (name, label) not in results:
            continue
        rep, wall = results[(name, label)]
        slow = max(rep["layers"], key=lambda l: l["seconds"])
        extra = next(e for l, e in CONFIGS if l == label)
        cost.append(f"| {name} | {label} | {len(rep['layers'])} | {wall:.1f} | {slow['name']} {slow['shape']} "
                    f"{slow['seconds']:.1f} s | {peak_rss(path, [*extra, *calib]):.0f} |")
sections.append(("Calibration cost", "\n".join(cost)))

header = [
    f"Command: `python3 bench/calibration_study.py --threads {args.threads}` (runs `mvq compress --json` once per row).",
    f"Machine: {cpu}, {os.cpu_count()} cores, {args.threads} threads; load average {load_before:.2f} before, "
    f"{os.getloadavg()[0]:.2f} after. Results do not depend on the thread count; times do.",
]
body = "\n".join(header) + "\n\n" + "\n\n".join(f"### {t}\n\n{b}" for t, b in sections)
print(body)
if args.quick:
    sys.exit(0)
md = ROOT / "docs" / "quality.md"
text = md.read_text(encoding="utf-8")
begin, end = "<!-- calibration:begin -->", "<!-- calibration:end -->"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: begin + "\n" + body + "\n" + end, text, flags=re.S)
else:
    text += "\n" + begin + "\n" + body + "\n" + end + "\n"
md.write_text(text, encoding="utf-8")
