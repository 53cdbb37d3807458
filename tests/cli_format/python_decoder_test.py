"""Runs the Python decoder of docs/format.md (extracted from the document, so it cannot drift from it) on files
written by `mvq compress` and on scalar-layer files it writes itself, and requires bit-identical agreement
with `mvq decompress`.

usage: python_decoder_test.py MVQ_BINARY FORMAT_MD WORK_DIR
Exit 0 on success, 1 on a mismatch, 77 (skipped) when numpy is missing.
"""
import json
import os
import re
import struct
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIPPED: numpy is not installed")
    sys.exit(77)


def extract_decoder(doc_path):
    text = open(doc_path, encoding="utf-8").read()
    section = text[text.index("## A decoder in Python"):]
    blocks = list(re.finditer(r"```python\n(.*?)```", section, re.S))
    if len(blocks) != 1:
        raise SystemExit(f"{doc_path}: expected one python block in 'A decoder in Python', found {len(blocks)}")
    # Pad with blank lines so tracebacks point at the document's own line numbers.
    first_line = text[:text.index("## A decoder in Python") + blocks[0].start(1)].count("\n")
    ns = {}
    exec(compile("\n" * first_line + blocks[0].group(1), doc_path, "exec"), ns)
    return ns


def write_safetensors(path, tensors, metadata):
    """tensors: name -> (dtype string, numpy array)."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, (dt, a) in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def main():
    mvq, doc, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    dec = extract_decoder(doc)
    rng = np.random.default_rng(12345)
    src = os.path.join(work, "in.safetensors")
    tensors = {
        "conv": ("F32", rng.laplace(size=(16, 8, 3, 3)).astype(np.float32)),
        "lin": ("F32", rng.standard_normal((24, 64)).astype(np.float32)),
        "half": ("F16", rng.standard_normal((32, 32)).astype(np.float16)),
        "conv1d": ("F32", rng.standard_normal((8, 4, 6)).astype(np.float32)),
        "dw": ("F32", rng.standard_normal((8, 1, 3, 3)).astype(np.float32)),
        "bias": ("F32", rng.standard_normal(16).astype(np.float32)),
        "ids": ("I64", np.arange(6, dtype=np.int64).reshape(2, 3)),
    }
    metadata = {"source": "python decoder test", "conv": json.dumps({"op": "Conv", "group": 1})}
    write_safetensors(src, tensors, metadata)

    failures, runs = 0, 0
    for codebook in ("f32", "f16", "i8"):
        for method in (["--method", "kmeans"], ["--method", "mvq", "--nm", "2:4", "--mask-encoding", "pattern"],
                       ["--method", "mvq", "--nm", "2:4", "--mask-encoding", "bitmap"],
                       ["--method", "mvq", "--nm", "1:8", "--mask-encoding", "pattern"]):
            for layout in ("oihw", "ohwi"):
                tag = f"{codebook}_{'_'.join(method[1::2])}_{layout}".replace(":", "-")
                packed = os.path.join(work, tag + ".mvq.safetensors")
                dense = os.path.join(work, tag + ".safetensors")
                cmd = [mvq, "compress", src, "-o", packed, "--k", "16", "--d", "8", "--min-size", "64",
                       "--codebook", codebook, "--layout", layout, "--seed", "3"] + method
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                subprocess.run([mvq, "decompress", packed, "-o", dense], check=True, stdout=subprocess.DEVNULL)
                runs += 1
                ours = dec["decode"](packed)
                ref, ref_meta = dec["read_safetensors"](dense)
                _, packed_meta = dec["read_safetensors"](packed)
                layers = sorted(k[4:] for k in packed_meta if k.startswith("mvq:"))
                problems = []
                if layers != ["conv", "conv1d", "half", "lin"]:
                    problems.append(f"compressed layers {layers}")
                if sorted(ours) != sorted(ref) or sorted(ref) != sorted(tensors):
                    problems.append(f"names {sorted(ours)} vs {sorted(ref)}")
                for name in ref:
                    a, b = ours.get(name), ref[name]
                    if a is None or a.dtype != b.dtype or a.shape != b.shape:
                        problems.append(f"{name}: dtype/shape {None if a is None else (a.dtype, a.shape)} vs "
                                        f"{(b.dtype, b.shape)}")
                    elif a.tobytes() != b.tobytes():  # bit for bit: 0 ulp
                        problems.append(f"{name}: {int(np.sum(a.view(np.uint8) != b.view(np.uint8)))} bytes differ")
                for name in ("bias", "ids", "dw"):
                    if ref[name].tobytes() != tensors[name][1].tobytes():
                        problems.append(f"{name}: not copied unchanged")
                if ref_meta != metadata:
                    problems.append(f"decompressed metadata {ref_meta}")
                for name in layers:  # a compressed layer keeps its shape and is close to the input
                    orig = tensors[name][1].astype(np.float32)
                    if ours[name].shape != orig.shape or ours[name].dtype != np.float32:
                        problems.append(f"{name}: decoded as {ours[name].dtype} {ours[name].shape}")
                    elif "--nm" in method:
                        zeros = np.mean(ours[name] == 0)
                        kept = 1 - float(method[3].split(":")[0]) / float(method[3].split(":")[1])
                        if zeros < kept - 1e-9:
                            problems.append(f"{name}: only {zeros:.3f} of the weights are zero under {method[3]}")
                if problems:
                    failures += 1
                    print(f"FAIL {tag}: " + "; ".join(problems))
                else:
                    print(f"ok   {tag}")
    # Scalar layers, written here from random codes (the format, not a quantizer, is under test).
    for bits in range(2, 9):
        for symmetric in (True, False):
            for layout in ("oihw", "ohwi"):
                tag = f"scalar_{bits}_{'sym' if symmetric else 'affine'}_{layout}"
                packed = os.path.join(work, tag + ".mvq.safetensors")
                dense = os.path.join(work, tag + ".safetensors")
                layers = {"conv": ([6, 4, 3, 1], 4), "lin": ([5, 13], 0)}  # name: (shape, group)
                out, meta = {"bias": ("F32", tensors["bias"][1])}, {"mvq_format": "1", "source": "python"}
                for name, (shape, group) in layers.items():
                    rows, cols = shape[0], int(np.prod(shape[1:]))
                    groups = cols // group if group else 1
                    codes = rng.integers(0, 1 << bits, size=(rows, cols))
                    stream = ((codes[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(rows, -1)
                    out[name + ".codes"] = ("U8", np.packbits(stream, axis=1, bitorder="little"))
                    out[name + ".scales"] = ("F32", rng.uniform(0.01, 2.0, size=(rows, groups)).astype(np.float32))
                    if not symmetric:
                        out[name + ".zeros"] = ("U8", rng.integers(0, 1 << bits, size=(rows, groups)).astype(np.uint8))
                    meta["mvq:" + name] = json.dumps({"kind": "scalar", "method": "gptq", "bits": bits, "group": group,
                                                      "symmetric": symmetric, "shape": shape, "layout": layout})
                write_safetensors(packed, out, meta)
                subprocess.run([mvq, "decompress", packed, "-o", dense], check=True, stdout=subprocess.DEVNULL)
                runs += 1
                ours = dec["decode"](packed)
                ref, _ = dec["read_safetensors"](dense)
                problems = []
                if sorted(ours) != sorted(ref) or sorted(ref) != ["bias", "conv", "lin"]:
                    problems.append(f"names {sorted(ours)} vs {sorted(ref)}")
                for name in ref:
                    a, b = ours.get(name), ref[name]
                    if a is None or a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                        problems.append(f"{name}: differs")
                if problems:
                    failures += 1
                    print(f"FAIL {tag}: " + "; ".join(problems))
                else:
                    print(f"ok   {tag}")
    print(f"{runs - failures}/{runs} configurations agree bit for bit")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
