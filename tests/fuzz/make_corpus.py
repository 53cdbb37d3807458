#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (standard library only): valid files and slightly broken ones
(the VQ seeds in corpus/mvq_format are committed files of their own; this script writes the scalar-layer ones).

usage: make_corpus.py [OUT_DIR]   (default: the corpus folder next to this script)
"""
import json
import os
import struct
import sys


def safetensors(tensors, metadata=None, raw_header=None, declared=None):
    header, data, offset = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        data += blob
        offset += len(blob)
    text = (raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text) if declared is None else declared) + text + data


def npy(descr, shape, fortran, blob, major=1, dict_text=None):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = dict_text or "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    lb = 2 if major == 1 else 4
    d = d + " " * ((64 - (8 + lb + len(d) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(d))
    return b"\x93NUMPY" + bytes([major, 0]) + length + d.encode() + blob


SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "I16": 2, "I32": 4,
         "I64": 8, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}

SAFETENSORS = {
    "empty": safetensors([]),
    "one_f32": safetensors([("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3))]),
    "all_dtypes": safetensors([(f"t_{k.lower()}", k, [3], bytes(range(3 * n))) for k, n in SIZES.items()],
                              {"format": "pt"}),
    "scalar_and_empty": safetensors([("s", "F64", [], struct.pack("<d", 2.5)), ("e", "F32", [0, 7], b"")]),
    "metadata_only": safetensors([], {"a": "1", "b": "{\"op\": \"Conv\", \"group\": 1}"}),
    "unicode_names": safetensors([("w\u00e9ight/\"q\"\n", "U8", [2], b"\x01\x02")], {"k\u2603": "v\\"}),
    "conv_layer": safetensors([("000_conv", "F32", [4, 2, 3, 3], bytes(288)), ("000_bias", "F16", [4], bytes(8))],
                              {"000_conv": "{\"op\": \"Conv\", \"group\": 1, \"strides\": [1, 1]}"}),
    "bad_header_length": safetensors([("w", "F32", [1], bytes(4))], declared=1 << 40),
    "bad_gap": safetensors([], raw_header='{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + bytes(8),
    "bad_json": safetensors([], raw_header='{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}') + bytes(4),
    "bad_dtype": safetensors([("w", "F33", [1], bytes(4))]),
    "bad_duplicate": safetensors([], raw_header='{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                                '"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}') + bytes(2),
    "bad_truncated": safetensors([("w", "I32", [4], bytes(16))])[:-5],
    "bad_huge_shape": safetensors([], raw_header='{"w":{"dtype":"F32","shape":[1000000,1000000],'
                                                 '"data_offsets":[0,16]}}') + bytes(16),
}

def scalar_layer(name, shape, bits, group, symmetric, codes, scales, zeros=None, method="gptq"):
    """The tensors and metadata entry of one scalar layer of a .mvq.safetensors file (docs/format.md)."""
    rows = shape[0]
    cols = len(codes) // rows
    groups = cols // group if group else 1
    per_row = (cols * bits + 7) // 8
    packed = b""
    for r in range(rows):
        acc = sum(c << (i * bits) for i, c in enumerate(codes[r * cols:(r + 1) * cols]))
        packed += acc.to_bytes(per_row, "little")
    tensors = [(name + ".codes", "U8", [rows, per_row], packed),
               (name + ".scales", "F32", [rows, groups], struct.pack(f"<{len(scales)}f", *scales))]
    if not symmetric:
        tensors.append((name + ".zeros", "U8", [rows, groups], bytes(zeros)))
    meta = json.dumps({"kind": "scalar", "method": method, "bits": bits, "group": group, "symmetric": symmetric,
                       "shape": shape, "layout": "oihw"}, separators=(",", ":"))
    return tensors, {"mvq:" + name: meta}


def mvq_file(layers, extra=()):
    tensors, metadata = list(extra), {"mvq_format": "1"}
    for t, m in layers:
        tensors += t
        metadata.update(m)
    return safetensors(tensors, metadata)


MVQ_FORMAT = {
    "scalar_gptq_affine_3bit": mvq_file([scalar_layer("w", [2, 8], 3, 4, False, list(range(8)) + [7] * 8,
                                                      [0.5, 0.25, 1.0, 2.0], [4, 0, 7, 3])],
                                        [("bias", "F32", [2], struct.pack("<2f", 1, -1))]),
    "scalar_rtn_sym_4bit_conv": mvq_file([scalar_layer("c", [3, 2, 1, 3], 4, 0, True, [i % 16 for i in range(18)],
                                                       [0.1, 0.2, 0.3], method="rtn")]),
    "bad_scalar_zero": mvq_file([scalar_layer("w", [1, 4], 2, 0, False, [0, 1, 2, 3], [1.0], [4])]),
}

NPY = {
    "f4_c": npy("<f4", [3, 4], "False", struct.pack("<12f", *range(12))),
    "f8_fortran": npy("<f8", [2, 3], "True", struct.pack("<6d", 0, 3, 1, 4, 2, 5)),
    "i2_big_endian": npy(">i2", [3], "False", struct.pack(">3h", 1, -2, 300)),
    "bool": npy("|b1", [4], "False", b"\x01\x00\x00\x01"),
    "u1_scalar": npy("|u1", [], "False", b"\x07"),
    "u8_v2": npy("<u8", [2], "False", struct.pack("<2Q", 1, 2 ** 63), major=2),
    "f2_v3": npy("<f2", [2, 1], "False", b"\x00\x3c\x00\xc0", major=3),
    "empty": npy("<i4", [0, 5], "False", b""),
    "u1_fortran_3d": npy("|u1", [2, 3, 2], "True", bytes(range(12))),
    "i8_scalar": npy("<i8", [], "False", struct.pack("<q", -1)),
    "py2_long_shape": npy("<i1", [2], "False", b"\x01\xff",
                          dict_text="{'descr': '|i1', 'fortran_order': False, 'shape': (2L,), }"),
    "bad_magic": b"\x93NUMPZ" + npy("<f4", [1], "False", bytes(4))[6:],
    "bad_size": npy("<f4", [3], "False", bytes(8)),
    "bad_dict": npy("<f4", [1], "False", bytes(4), dict_text="{'descr': '<f4', 'shape': (1,), }"),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for folder, files in (("safetensors", SAFETENSORS), ("npy", NPY), ("mvq_format", MVQ_FORMAT)):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        for name, blob in files.items():
            with open(os.path.join(out, folder, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
