#!/usr/bin/env python3
"""Builds the seed corpora of the libFuzzer harnesses (tests/fuzz) from the
golden files in tests/data. Usage: fuzz_seeds.py TESTDATA_DIR OUT_DIR.

OUT_DIR/<harness>/ gets one file per seed, in the input layout that harness's
file comment describes. Uses the zstd command (when present) to add
uncompressed copies of OCDBT nodes, so mutations reach the node decoders
instead of the zstd frame."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

MAGICS = {0x0CDB3A2A: "manifest", 0x0CDB1234: "version", 0x0CDB20DE: "btree"}
MIN_ENVELOPE = 18


def put(out, harness, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def varint(v):
    b = bytearray()
    while True:
        if v < 0x80:
            b.append(v)
            return bytes(b)
        b.append((v & 0x7F) | 0x80)
        v >>= 7


def unzstd(payload):
    if shutil.which("zstd") is None:
        return None
    r = subprocess.run(["zstd", "-d", "-c", "-q"], input=payload, capture_output=True)
    return r.stdout if r.returncode == 0 else None


def envelopes(data):
    """(kind, blob) of every OCDBT envelope in a file."""
    p = 0
    while p + MIN_ENVELOPE <= len(data):
        magic = struct.unpack(">I", data[p:p + 4])[0]
        if magic in MAGICS:
            n = struct.unpack("<Q", data[p + 4:p + 12])[0]
            if MIN_ENVELOPE <= n <= len(data) - p:
                yield MAGICS[magic], data[p:p + n]
                p += n
                continue
        p += 1


def body_of(blob):
    """The decoded body of an envelope (version 0), or None."""
    if len(blob) < MIN_ENVELOPE or blob[12] != 0:
        return None
    compression = blob[13]
    payload = blob[14:-4]
    if compression == 0:
        return payload
    if compression == 1:
        return unzstd(payload)
    return None


def plain_envelope(blob, body):
    """The envelope re-written uncompressed (length and CRC are repaired by
    the harness)."""
    out = blob[:4] + struct.pack("<Q", 0) + varint(0) + varint(0) + body + b"\0\0\0\0"
    return out[:4] + struct.pack("<Q", len(out)) + out[12:]


def ocdbt_seeds(root, out):
    for dirpath, _, files in os.walk(root):
        if "manifest.ocdbt" not in files:
            continue
        packed = bytearray()
        names = ["manifest.ocdbt"]
        for sub, _, fs in os.walk(dirpath):
            rel = os.path.relpath(sub, dirpath)
            if rel.startswith("ocdbt.process_") or (rel != "." and rel.split(os.sep)[0] != "d"):
                continue
            for f in sorted(fs):
                if rel != "." or f != "manifest.ocdbt":
                    names.append(os.path.normpath(os.path.join(rel, f)))
        for name in names[:8]:
            data = read(os.path.join(dirpath, name))
            packed += bytes([len(name)]) + name.encode() + struct.pack("<I", len(data)) + data
            for kind, blob in envelopes(data):
                body = body_of(blob)
                variants = [blob]
                if body is not None and blob[13] != 0:
                    variants.append(plain_envelope(blob, body))
                if body is not None:
                    variants.append(body)
                # Version tree inputs start with the arity: log2 4
                # (TensorStore's default) -> byte 3.
                harness, lead = {"manifest": ("fuzz_ocdbt_manifest", b""),
                                 "btree": ("fuzz_ocdbt_btree_node", b"")}.get(
                                     kind, ("fuzz_ocdbt_version_tree", bytes([3])))
                for v in variants:
                    put(out, harness, lead + v)
                if body is not None:
                    # A node body starts with its version / arity bytes; the
                    # data file table follows a byte or two in.
                    for skip in (1, 2):
                        put(out, "fuzz_ocdbt_data_file_table", bytes([0x13]) + body[skip:])
                    if blob[13] != 0:
                        put(out, "fuzz_decompress", bytes([0]) + blob[14:-4])
                        put(out, "fuzz_stream_decoder", bytes([1 | (4 << 2)]) + blob[14:-4])
        put(out, "fuzz_ocdbt_kvstore", bytes(packed))


def zarr_seeds(root, out):
    for dirpath, _, files in os.walk(root):
        for meta_name, v3 in ((".zarray", False), ("zarr.json", True)):
            if meta_name not in files:
                continue
            meta = read(os.path.join(dirpath, meta_name))
            put(out, "fuzz_zarr_metadata", meta)
            try:
                j = json.loads(meta)
            except ValueError:
                continue
            if j.get("node_type", "array") != "array" or "shape" not in j:
                continue
            rank = len(j["shape"])
            if v3:
                sep = (j.get("chunk_key_encoding", {}).get("configuration", {})
                       .get("separator", "/"))
                key = sep.join(["c"] + ["0"] * rank)
            else:
                sep = j.get("dimension_separator", ".")
                key = sep.join(["0"] * rank) if rank else "0"
            flags = 1 if v3 else 0
            head = bytes([flags]) + struct.pack("<H", len(meta)) + meta
            put(out, "fuzz_zarr_chunk", bytes([flags | 2]) + head[1:])
            chunk_path = os.path.join(dirpath, key)
            if os.path.isfile(chunk_path):
                chunk = read(chunk_path)
                put(out, "fuzz_zarr_chunk", head + chunk)
                put(out, "fuzz_zarr_chunk", bytes([flags | 4 | 8 | 0x30]) + head[1:] + chunk)
                comp = (j.get("compressor") or {}).get("id") if not v3 else None
                codec = {"zstd": 0, "zlib": 1, "gzip": 2, "blosc": 3}.get(comp)
                if codec is not None:
                    put(out, "fuzz_decompress", bytes([codec]) + chunk)
                    if codec < 3:
                        put(out, "fuzz_stream_decoder", bytes([codec + 1]) + chunk)
                        put(out, "fuzz_stream_decoder", bytes([(codec + 1) | 64]) + chunk)


def orbax_seeds(root, out):
    for dirpath, _, files in os.walk(root):
        if "_METADATA" in files:
            put(out, "fuzz_tree_metadata", read(os.path.join(dirpath, "_METADATA")))
        for f in files:
            if f == "checkpoint" or f.endswith(".msgpack"):
                data = read(os.path.join(dirpath, f))
                if len(data) < (1 << 20):
                    put(out, "fuzz_legacy_msgpack", data)
            if f.endswith(".npy"):
                put(out, "fuzz_npy_header", read(os.path.join(dirpath, f))[:4096])
            if f.endswith(".safetensors"):
                put(out, "fuzz_safetensors", read(os.path.join(dirpath, f)))


def pack_tree(top):
    """A directory as fuzz_checkpoint_tree's input: [u8 name length][name]
    [u32 LE size][bytes] per file (at most 64 files, 1 MiB in all), or None."""
    packed = bytearray()
    count = 0
    for dirpath, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            full = os.path.join(dirpath, f)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            name = os.path.relpath(full, top).encode()
            data = read(full)
            if len(name) > 200 or count == 64 or len(packed) + len(data) > (1 << 20):
                return bytes(packed) if count else None
            packed += bytes([len(name)]) + name + struct.pack("<I", len(data)) + data
            count += 1
    return bytes(packed) if count else None


def tree_seeds(root, out):
    """Checkpoints, items and manager roots of the golden data, whole."""
    for dirpath, dirs, files in os.walk(root):
        if "_expected" in dirpath:
            continue
        markers = ("_CHECKPOINT_METADATA", "_METADATA", "manifest.ocdbt", "checkpoint")
        steps = [d for d in dirs if d.isdigit()]
        if any(m in files for m in markers) or steps:
            packed = pack_tree(dirpath)
            if packed is not None:
                put(out, "fuzz_checkpoint_tree", packed)


def file_seeds(work, out):
    """Small .npz and .h5 files made with NumPy and h5py (when present)."""
    try:
        import numpy as np
    except ImportError:
        return
    arrays = {"a": np.arange(6, dtype="<f4").reshape(2, 3), "b.c": np.array([1, -2, 3], ">i8"),
              "s": np.array(True), "z": np.zeros((0, 4), np.uint16),
              "x": np.array([1 + 2j], np.complex64)}
    os.makedirs(work, exist_ok=True)
    for i, save in enumerate((np.savez, np.savez_compressed)):
        path = os.path.join(work, "seed%d.npz" % i)
        save(path, **arrays)
        put(out, "fuzz_npz", read(path))
    try:
        import h5py
    except ImportError:
        return
    for i, opts in enumerate(({}, {"chunks": (1, 2), "compression": "gzip"},
                              {"chunks": (2, 1), "shuffle": True})):
        path = os.path.join(work, "seed%d.h5" % i)
        with h5py.File(path, "w") as f:
            f.create_dataset("w", data=np.arange(6, dtype="<f4").reshape(2, 3), **opts)
            g = f.create_group("layer.0")
            g.create_dataset("b", data=np.array([1, 2, 3], "<i2"))
            g.create_dataset("scalar", data=np.float64(2.5))
            f.attrs["note"] = "seed"
        put(out, "fuzz_hdf5", read(path))


def npy(descr, shape, fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(" + "".join("%d, " % s for s in shape) + ")" if len(shape) != 1 else "(%d,)" % shape[0])
    h = d.encode()
    pad = 64 - (10 + len(h) + 1) % 64
    h += b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def synthetic_seeds(out):
    for args in (("<f4", [2, 3]), ("|b1", [5]), (">i8", [], False), ("<c16", [1, 2, 3], True),
                 ("<u2", [0])):
        put(out, "fuzz_npy_header", npy(*args) + b"\0" * 16)
    tensors = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
               "b.c": {"dtype": "I8", "shape": [3], "data_offsets": [16, 19]},
               "__metadata__": {"ockpt.tree": "{}"}}
    h = json.dumps(tensors).encode()
    put(out, "fuzz_safetensors", struct.pack("<Q", len(h)) + h + bytes(range(19)))
    h = json.dumps({"x": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}}).encode()
    put(out, "fuzz_safetensors", struct.pack("<Q", len(h)) + h + b"\x80\x3f")
    for text in (b"", b"YWJj", b"YWJjZA==", b"-_8=", b"AAECAwQFBgcICQ"):
        put(out, "fuzz_base64", text)
    for text in (b'{"a": [1, 2.5, null, true, "x"]}', b"[" * 300 + b"]" * 300,
                 b'{"k\xb9": "v\xb9"}', b'["\\"[[[", {"b": {}}]'):
        put(out, "fuzz_json", text)
    v3 = {"zarr_format": 3, "node_type": "array", "shape": [8, 6], "data_type": "int32",
          "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 6]}},
          "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
          "codecs": [{"name": "sharding_indexed", "configuration": {
              "chunk_shape": [2, 3], "codecs": [{"name": "bytes",
                                                  "configuration": {"endian": "little"}}],
              "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                               {"name": "crc32c"}],
              "index_location": "end"}}]}
    meta = json.dumps(v3).encode()
    put(out, "fuzz_zarr_metadata", meta)
    put(out, "fuzz_zarr_chunk", bytes([1]) + struct.pack("<H", len(meta)) + meta +
        bytes(4 * 16 + 8 * 2 * 4 + 4))
    v3["codecs"] = [{"name": "transpose", "configuration": {"order": [1, 0]}},
                    {"name": "bytes", "configuration": {"endian": "big"}},
                    {"name": "gzip", "configuration": {"level": 1}}]
    meta = json.dumps(v3).encode()
    put(out, "fuzz_zarr_metadata", meta)
    put(out, "fuzz_zarr_chunk", bytes([3]) + struct.pack("<H", len(meta)) + meta)
    for codec in range(4):
        put(out, "fuzz_stream_decoder", bytes([codec]) + b"\0" * 32)


def main():
    testdata, out = sys.argv[1], sys.argv[2]
    ocdbt_seeds(testdata, out)
    zarr_seeds(testdata, out)
    orbax_seeds(testdata, out)
    tree_seeds(testdata, out)
    file_seeds(os.path.join(out, ".work"), out)
    synthetic_seeds(out)


if __name__ == "__main__":
    main()
