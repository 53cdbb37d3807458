#!/usr/bin/env python3
"""End-to-end checks of the `mvq` tool (standard library only).

usage: check_cli.py MODE MVQ SCRATCH MODELS_DIR VERSION
MODE is one of version, usage, inspect, npy, errors, demo, models, calib. Exit 0 on success, 1 on a failed check,
77 when the check needs the shared model folder and it is absent.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([MVQ, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def safetensors_bytes(tensors, metadata=None, raw_header=None):
    """tensors: list of (name, dtype, shape, data bytes); laid out in list order."""
    header, data, offset = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        data += blob
        offset += len(blob)
    text = raw_header if raw_header is not None else json.dumps(header)
    text = text.encode() + b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def npy_bytes(descr, shape, fortran, blob, major=1):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    lb = 2 if major == 1 else 4
    pad = (64 - (8 + lb + len(d) + 1) % 64) % 64
    d = d + " " * pad + "\n"
    length = struct.pack("<H", len(d)) if major == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([major, 0]) + length + d.encode() + blob


def write(name, blob):
    path = os.path.join(SCRATCH, name)
    with open(path, "wb") as f:
        f.write(blob)
    return path


def inspect_json(path):
    code, out, err = run("inspect", path, "--json")
    check(code == 0, f"inspect --json {path} exits 0 (got {code}, stderr {err!r})")
    try:
        return json.loads(out)
    except json.JSONDecodeError as e:
        check(False, f"inspect --json output is JSON ({e}): {out[:200]!r}")
        return {}


def mode_version():
    code, out, _ = run("--version")
    check(code == 0, "--version exits 0")
    check(out.strip() == "mvq " + VERSION, f"--version prints 'mvq {VERSION}' (got {out!r})")


def mode_usage():
    for args, phrase in [((), "subcommand"), (("frobnicate",), "unknown command 'frobnicate'"), (("inspect",), "file is required"),
                         (("inspect", "x.safetensors", "--bogus"), "--bogus"), (("demo", "--seed", "abc"), "seed")]:
        code, out, err = run(*args)
        check(code == 2, f"usage error {args} exits 2 (got {code})")
        check(phrase.lower() in (out + err).lower(), f"usage error {args} mentions {phrase!r}: {err!r}")
    code, out, _ = run("inspect", "--help")
    check(code == 0 and "--json" in out, "inspect --help exits 0 and documents --json")


def mode_inspect():
    tensors = [("w", "F32", [2, 3], struct.pack("<6f", *range(6))),
               ("b", "F16", [3], b"\x00\x3c" * 3),
               ("scalar", "I64", [], struct.pack("<q", -5)),
               ("empty", "BF16", [0, 4], b""),
               ("m", "BOOL", [4], b"\x01\x00\x01\x01"),
               ("q", "F8_E4M3", [2], b"\x38\x40")]
    meta = {"format": "pt", "note": "h\u00e9llo \"quoted\""}
    path = write("model.safetensors", safetensors_bytes(tensors, meta))
    j = inspect_json(path)
    check(list(j.keys()) == ["file", "metadata", "tensors"], f"top-level keys in order: {list(j.keys())}")
    check(j.get("file") == path, "file is the path given")
    check(j.get("metadata") == meta, f"metadata round-trips: {j.get('metadata')}")
    got = j.get("tensors", [])
    check(len(got) == len(tensors), f"{len(tensors)} tensors listed")
    offset = 0
    for t, (name, dtype, shape, blob) in zip(got, tensors):
        check(list(t.keys()) == ["name", "dtype", "shape", "data_offsets"], f"tensor keys in order: {list(t.keys())}")
        check(t == {"name": name, "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]},
              f"tensor {name}: {t}")
        offset += len(blob)
    # The table: one line per tensor with its dtype, shape and byte count, then the metadata.
    code, out, err = run("inspect", path)
    check(code == 0, f"inspect (table) exits 0: {err!r}")
    check("6 tensors" in out, "table header counts 6 tensors")
    for name, dtype, shape, blob in tensors:
        line = next((l for l in out.splitlines() if l.split()[:1] == [name]), "")
        check(dtype in line and str(len(blob)) in line.split()[-1:], f"table line for {name}: {line!r}")
    check("format = pt" in out, "table prints metadata")
    # Detection is by content: the same bytes under a .npy name are still safetensors.
    alias = write("actually_safetensors.npy", safetensors_bytes(tensors, meta))
    check(len(inspect_json(alias).get("tensors", [])) == 6, "a safetensors file named .npy is read as safetensors")


def mode_npy():
    blob = struct.pack("<6i", *range(6))
    for major in (1, 2, 3):
        for fortran in ("False", "True"):
            path = write(f"arr_v{major}_{fortran}.npy", npy_bytes("<i4", [2, 3], fortran, blob, major))
            j = inspect_json(path)
            check(j.get("metadata") == {"fortran_order": fortran, "npy_version": f"{major}.0"},
                  f"npy metadata: {j.get('metadata')}")
            check(j.get("tensors") == [{"name": f"arr_v{major}_{fortran}", "dtype": "I32", "shape": [2, 3],
                                        "data_offsets": [0, 24]}], f"npy tensor: {j.get('tensors')}")
    path = write("big_endian", npy_bytes(">f8", [], "False", struct.pack(">d", 1.5)))
    j = inspect_json(path)
    check(j.get("tensors", [{}])[0].get("dtype") == "F64", "big-endian npy without extension is read as npy")


def mode_errors():
    cases = [
        ("bad_dtype.safetensors", safetensors_bytes([("w", "F33", [1], b"\0" * 4)]), ["tensor 'w'", "unknown dtype 'F33'"]),
        ("truncated.safetensors", safetensors_bytes([("w", "F32", [4], b"\0" * 16)])[:-3], ["tensor 'w'", "past the end"]),
        ("bad_json.safetensors", safetensors_bytes([], raw_header='{"w": {'), ["not valid JSON"]),
        ("huge.safetensors", safetensors_bytes([], raw_header='{"w": {"dtype": "F32", "shape": [1000000, 1000000], '
                                                              '"data_offsets": [0, 0]}}'), ["needs 4000000000000 bytes"]),
        ("short", b"abc", ["too short"]),
        ("bad_version.npy", b"\x93NUMPY\x09\x00" + b"\0" * 64, ["version 9.0"]),
        ("bad_shape.npy", npy_bytes("<f4", [3], "False", b"\0" * 8), ["needs 12 data bytes", "holds 8"]),
    ]
    for name, blob, phrases in cases:
        path = write(name, blob)
        code, out, err = run("inspect", path)
        check(code == 1, f"{name}: exit 1 (got {code})")
        check(err.startswith("mvq: error: ") and name in err, f"{name}: error names the file: {err!r}")
        for p in phrases:
            check(p in err, f"{name}: error mentions {p!r}: {err!r}")
        check(out == "", f"{name}: nothing on stdout")
        code, out, err = run("inspect", path, "--json")
        check(code == 1 and out == "", f"{name}: --json also exits 1 with no output")
    code, _, err = run("inspect", os.path.join(SCRATCH, "absent.safetensors"))
    check(code == 1 and "cannot open" in err, f"missing file: exit 1, 'cannot open': {err!r}")
    code, _, err = run("inspect", SCRATCH)
    check(code == 1 and "not a regular file" in err, f"folder: exit 1, 'not a regular file': {err!r}")


def mode_demo():
    out_dir = os.path.join(SCRATCH, "demo")
    code, out, err = run("demo", "-o", out_dir)
    check(code == 0, f"demo exits 0 (stderr {err!r})")
    check("round-trip: 12/12 tensors bit-identical" in out, f"demo reports the bit-exact round-trip: {out[-200:]!r}")
    path = os.path.join(out_dir, "demo.safetensors")
    j = inspect_json(path)
    dtypes = {t["dtype"] for t in j.get("tensors", [])}
    check(len(j.get("tensors", [])) == 12, "demo file holds 12 tensors")
    check({"F64", "F32", "F16", "BF16", "F8_E4M3", "I8", "I64", "U16", "BOOL"} <= dtypes, f"demo dtypes: {dtypes}")
    check(j.get("metadata", {}).get("seed") == "2025", "demo metadata records the seed")
    first = open(path, "rb").read()
    # The same seed gives the same bytes; another seed other weights.
    code, _, _ = run("demo", "-o", out_dir)
    check(code == 0 and open(path, "rb").read() == first, "demo is deterministic for a seed")
    code, _, _ = run("demo", "-o", out_dir, "--seed", "7")
    check(code == 0 and open(path, "rb").read() != first, "another seed changes the weights")
    check(sorted(os.listdir(out_dir)) == ["demo.safetensors"], f"no temporary files left: {os.listdir(out_dir)}")
    # Compressed, the file's layers each show the kernel kernel::pack picks (text and JSON).
    packed = os.path.join(SCRATCH, "demo.mvq.safetensors")
    for args, kernel in [(("--method", "kmeans", "--k", "16", "--d", "4"), "vq_nibble_d4_u8"),
                         (("--method", "kmeans", "--k", "256", "--d", "8"), "vq_byte_d8"),
                         (("--method", "mvq", "--k", "256", "--d", "8", "--nm", "2:4"), "mvq_d8_2_4"),
                         (("--method", "kmeans", "--k", "64", "--d", "2"), "vq_nibble_d2_u8")]:
        code, _, err = run("compress", path, "-o", packed, "--min-size", "1", *args)
        check(code == 0, f"compress {args}: exit 0 ({err!r})")
        j = inspect_json(packed)
        check(list(j.keys()) == ["file", "metadata", "tensors", "layers"], f"mvq file keys: {list(j.keys())}")
        layers = j.get("layers", [])
        check(len(layers) > 0, f"compress {args}: compressed layers listed")
        for layer in layers:
            check(list(layer.keys()) == ["name", "rows", "cols", "k", "d", "nm", "order", "bits_per_weight", "kernel"],
                  f"layer keys: {list(layer.keys())}")
            want = "vq_generic" if layer["k"] > 256 or (layer["d"] == 2 and layer["k"] > 16) else kernel
            check(layer["kernel"] == want, f"compress {args}: layer {layer['name']} (K = {layer['k']}) uses {want}: {layer}")
        code, out, err = run("inspect", packed)
        check(code == 0 and "kernel::pack picks" in out, f"inspect table lists the kernels: {out[-400:]!r}")
        for layer in layers:
            line = next((l for l in out.splitlines() if l.split()[:1] == [layer["name"]] and "x" in l.split()), "")
            check(line.split()[-1:] == [layer["kernel"]], f"table line of {layer['name']} ends with its kernel: {line!r}")
    # A folder that cannot be created is a clean failure.
    blocker = write("not_a_folder", b"x")
    code, _, err = run("demo", "-o", os.path.join(blocker, "sub"))
    check(code == 1 and "mvq: error:" in err, f"uncreatable folder: exit 1 with a message: {err!r}")


def mode_models():
    path = os.path.join(MODELS, "ppocr_det.safetensors")
    if not os.path.isfile(path):
        print(f"SKIPPED: {path} is absent (set MVQ_MODELS_DIR)")
        sys.exit(77)
    j = inspect_json(path)
    tensors = j.get("tensors", [])
    check(len(tensors) == 64, f"ppocr_det lists 64 tensors (got {len(tensors)})")
    check(all(t["dtype"] == "F32" and isinstance(t["shape"], list) and t["shape"] for t in tensors),
          "every tensor has a dtype and a shape")
    check(tensors and tensors[0] == {"name": "000_conv", "dtype": "F32", "shape": [16, 3, 3, 3],
                                     "data_offsets": [0, 1728]}, f"first tensor: {tensors[:1]}")
    total = 0
    for t in tensors:
        n = 1
        for d in t["shape"]:
            n *= d
        check(t["data_offsets"][1] - t["data_offsets"][0] == 4 * n, f"{t['name']}: offsets match the shape")
        total += n
    check(total == 1164320, f"1,164,320 weights in total (got {total})")
    check(j.get("metadata", {}).get("source") == "ch_PP-OCRv4_det_infer.onnx", "metadata source")


def mode_calib():
    """Output-aware compression end to end on a small synthetic layer pair with calibration rows."""
    import random
    rng = random.Random(5)

    def f32(vals):
        return struct.pack("<%df" % len(vals), *vals)

    # Two layers: a 3x3 conv [16, 8, 3, 3] (reduction 72) and a linear [24, 64]; correlated calibration rows.
    w1 = [rng.gauss(0, 1) for _ in range(16 * 72)]
    w2 = [rng.gauss(0, 1) for _ in range(24 * 64)]

    def rows(n, cols):
        base = [[rng.gauss(0, 1) for _ in range(4)] for _ in range(n)]
        return [base[r][c % 4] + 0.3 * rng.gauss(0, 1) for r in range(n) for c in range(cols)]

    model = write("model.safetensors", safetensors_bytes(
        [("conv", "F32", [16, 8, 3, 3], f32(w1)), ("fc", "F32", [24, 64], f32(w2))]))
    calib = write("calib.safetensors", safetensors_bytes(
        [("conv", "F32", [40, 72], f32(rows(40, 72))), ("fc", "F32", [30, 64], f32(rows(30, 64)))]))
    out = os.path.join(SCRATCH, "out.mvq.safetensors")
    dense = os.path.join(SCRATCH, "back.safetensors")
    common = ["--min-size", "1", "--json"]
    reports = {}
    for name, args in [
        ("gptq4", ["--method", "gptq", "--bits", "4", "--calib", calib]),
        ("gptq3g8", ["--method", "gptq", "--bits", "3", "--group", "8", "--affine", "--calib", calib]),
        ("gptvq", ["--method", "gptvq", "--k", "16", "--d", "4", "--calib", calib]),
        ("gptvq24", ["--method", "gptvq", "--k", "16", "--d", "4", "--nm", "2:4", "--calib", calib]),
        ("gptvq_ft", ["--method", "gptvq", "--k", "16", "--d", "4", "--finetune-codebook", "--calib", calib]),
        ("kmeans", ["--method", "kmeans", "--k", "16", "--d", "4", "--calib", calib]),
        ("kmeans_ft", ["--method", "kmeans", "--k", "16", "--d", "4", "--finetune-codebook", "--calib", calib]),
        ("mvq_ft", ["--method", "mvq", "--k", "16", "--d", "4", "--finetune-codebook", "--calib", calib]),
        ("vq4dit", ["--method", "vq4dit", "--k", "16", "--d", "4", "--iters", "50", "--calib", calib]),
        ("vq4dit_zero", ["--method", "vq4dit", "--k", "16", "--d", "4", "--iters", "50", "--zero-data"]),
        ("budget", ["--method", "gptq", "--budget", "4.5", "--calib", calib]),
    ]:
        for threads in ("1", "3"):
            target = out + "." + threads
            code, stdout, err = run("compress", model, "-o", target, *common, "--threads", threads, *args)
            check(code == 0, f"compress {name} (threads {threads}): exit 0 ({err!r})")
            if code != 0:
                break
            rep = json.loads(stdout)
            reports[name] = rep
            check(len(rep["layers"]) == 2, f"{name}: both layers compressed")
            check(all(l["output_snr_db"] is not None for l in rep["layers"]), f"{name}: output SNR reported")
        if code != 0:
            continue
        with open(out + ".1", "rb") as a, open(out + ".3", "rb") as b:
            check(a.read() == b.read(), f"{name}: --threads 1 and 3 write the same bytes")
        code, _, err = run("decompress", out + ".1", "-o", dense)
        check(code == 0, f"{name}: decompress exits 0 ({err!r})")
    if "gptvq" in reports and "kmeans" in reports:
        g, k = reports["gptvq"]["total"], reports["kmeans"]["total"]
        check(g["output_snr_db"] > k["output_snr_db"],
              f"gptvq beats kmeans on output SNR at the same K and d ({g['output_snr_db']} vs {k['output_snr_db']})")
    if "kmeans_ft" in reports and "kmeans" in reports:
        check(reports["kmeans_ft"]["total"]["output_snr_db"] >= reports["kmeans"]["total"]["output_snr_db"] - 0.1,
              "codebook fine-tuning does not lower the output SNR")
    if "budget" in reports:
        t = reports["budget"]["total"]
        check(t["bits_per_weight"] <= 4.5 + 1e-12, f"budget met ({t['bits_per_weight']})")
        check(all("candidates" in l for l in reports["budget"]["layers"]), "budget: candidates listed per layer")
    if "gptq4" in reports:
        for l in reports["gptq4"]["layers"]:
            check(l["method"] == "gptq" and l["bits_per_code"] == 4, f"gptq layer described: {l}")

    # Bad inputs: a clear error, exit 1, and no output file.
    wide = write("wide.safetensors", safetensors_bytes([("fc", "F32", [2, 65], f32([0.0] * 130))]))
    nan = write("nan.safetensors", safetensors_bytes([("fc", "F32", [2, 64], f32([float("nan")] + [0.0] * 127))]))
    for name, args, phrase in [
        ("wrong width", ["--method", "gptq", "--calib", wide], "needs F32 [rows, 64]"),
        ("non-finite rows", ["--method", "gptq", "--calib", nan], "non-finite"),
        ("budget too low", ["--method", "gptq", "--budget", "0.5", "--calib", calib], "below"),
        ("no calibration", ["--method", "gptvq", "--k", "16", "--d", "4"], "--calib"),
        ("option of another method", ["--method", "gptq", "--k", "16", "--calib", calib], "does not apply"),
        ("bits out of range", ["--method", "gptq", "--bits", "9", "--calib", calib], "2 to 8"),
    ]:
        target = os.path.join(SCRATCH, "bad.mvq.safetensors")
        code, stdout, err = run("compress", model, "-o", target, "--min-size", "1", *args)
        check(code == 1, f"{name}: exit 1 (got {code}, {err!r})")
        check(phrase in err, f"{name}: error mentions {phrase!r}: {err!r}")
        check(not os.path.exists(target), f"{name}: no output file")
    code, _, err = run("compress", model, "-o", os.path.join(SCRATCH, "x"), "--method", "optq")
    check(code != 0 and "optq" in err, f"unknown method: refused ({err!r})")


if __name__ == "__main__":
    mode, MVQ, SCRATCH, MODELS, VERSION = sys.argv[1:6]
    MODELS = os.environ.get("MVQ_MODELS_DIR") or MODELS  # like the unit tests: the environment wins
    shutil.rmtree(SCRATCH, ignore_errors=True)
    os.makedirs(SCRATCH)
    globals()["mode_" + mode]()
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print(f"cli {mode}: all checks passed")
