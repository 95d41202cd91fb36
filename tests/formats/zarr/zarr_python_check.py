#!/usr/bin/env python3
"""Checks arrays written by ockpt's zarr writer with independent readers.

Runs zarr_write_tool into a temporary directory, then
  * zarr v2: opens every array with zarr-python (2.x) and compares metadata
    and values with the raw bytes the tool wrote next to it;
  * zarr v3 (zarr-python 2 cannot read it): parses zarr.json and every shard
    by hand (index at the end, CRC-32C, zstd via numcodecs) and compares.
Exits 77 (skipped) when zarr-python or numcodecs is missing.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import numcodecs
    import zarr
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

V2_TYPESTR = {
    "bool": "|b1", "int8": "|i1", "uint8": "|u1", "int16": "<i2", "uint16": "<u2",
    "int32": "<i4", "uint32": "<u4", "int64": "<i8", "uint64": "<u8", "float16": "<f2",
    "float32": "<f4", "float64": "<f8", "complex64": "<c8", "complex128": "<c16",
}
V3_FILL = {"bool": False, "complex64": [0.0, 0.0], "complex128": [0.0, 0.0],
           "float16": 0.0, "float32": 0.0, "float64": 0.0}


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def grid_indices(shape, chunks):
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    return list(np.ndindex(*grid)) if grid else [()]


def padded_chunk(full, index, chunks, dtype):
    """The chunk at index, zeros beyond the array's edge."""
    out = np.zeros(chunks, dtype=dtype)
    src = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, full.shape))
    dst = tuple(slice(0, sl.stop - sl.start) for sl in src)
    out[dst] = full[src]
    return out


def check_v2(base, case, full):
    name = case["name"]
    arr = zarr.open(os.path.join(base, name), mode="r")
    assert arr.dtype == np.dtype(V2_TYPESTR[case["dtype"]]), (name, arr.dtype)
    assert list(arr.shape) == case["shape"], (name, arr.shape)
    assert list(arr.chunks) == case["chunks"] or (not case["shape"] and arr.chunks == ()), name
    assert arr.order == "C" and arr.fill_value is None and not arr.filters, name
    if case["level"] is None:
        assert arr.compressor is None, (name, arr.compressor)
    else:
        assert arr.compressor == numcodecs.Zstd(level=case["level"]), (name, arr.compressor)
    got = arr[...]
    assert got.tobytes() == full.tobytes(), f"{name}: values differ"
    # Every chunk is stored, the edge ones padded with zeros.
    stored = sorted(k for k in os.listdir(os.path.join(base, name)) if k != ".zarray")
    want = sorted(".".join(map(str, i)) if i else "0" for i in grid_indices(full.shape, case["chunks"]))
    assert stored == want, (name, stored, want)
    for index in grid_indices(full.shape, case["chunks"]):
        key = ".".join(map(str, index)) if index else "0"
        with open(os.path.join(base, name, key), "rb") as f:
            raw = f.read()
        if case["level"] is not None:
            # The content checksum (ockpt's default) is in the frame header,
            # and numcodecs checks it: a damaged checksum fails to decode.
            assert raw[4] & 0x04, (name, key, "no content checksum")
            try:
                numcodecs.Zstd().decode(raw[:-1] + bytes([raw[-1] ^ 1]))
                assert False, (name, key, "numcodecs decoded a damaged checksum")
            except RuntimeError:
                pass
            raw = numcodecs.Zstd().decode(raw)
        chunk = np.frombuffer(raw, dtype=full.dtype).reshape(case["chunks"])
        assert chunk.tobytes() == padded_chunk(full, index, case["chunks"], full.dtype).tobytes(), (
            name, key)


def check_v3(base, case, full):
    name = case["name"]
    with open(os.path.join(base, name, "zarr.json"), "rb") as f:
        text = f.read()
    md = json.loads(text)
    assert text == json.dumps(md, sort_keys=True, separators=(",", ":")).encode(), name
    assert md["zarr_format"] == 3 and md["node_type"] == "array", name
    assert md["shape"] == case["shape"] and md["data_type"] == case["dtype"], name
    assert md["fill_value"] == V3_FILL.get(case["dtype"], 0), (name, md["fill_value"])
    assert md["chunk_key_encoding"] == {"name": "default"}, name
    assert md["chunk_grid"] == {"name": "regular",
                                "configuration": {"chunk_shape": case["chunks"]}}, name
    (sharding,) = md["codecs"]
    assert sharding["name"] == "sharding_indexed", name
    cfg = sharding["configuration"]
    assert cfg["chunk_shape"] == case["chunks"], name
    itemsize = np.dtype(V2_TYPESTR[case["dtype"]]).itemsize
    bytes_codec = {"name": "bytes"} if itemsize == 1 else {
        "name": "bytes", "configuration": {"endian": "little"}}
    inner = [bytes_codec]
    if case["level"] is not None:
        # ockpt's default: frames carry their content checksum (zstd_checksum).
        inner.append({"name": "zstd", "configuration": {"level": case["level"], "checksum": True}})
    assert cfg["codecs"] == inner, (name, cfg["codecs"])
    assert cfg["index_codecs"] == [{"name": "bytes", "configuration": {"endian": "little"}},
                                   {"name": "crc32c"}], name
    for index in grid_indices(full.shape, case["chunks"]):
        key = "/".join(["c"] + [str(i) for i in index])
        with open(os.path.join(base, name, key), "rb") as f:
            shard = f.read()
        assert len(shard) > 20, (name, key)
        body, idx, crc = shard[:-20], shard[-20:-4], shard[-4:]
        offset, nbytes = struct.unpack("<QQ", idx)
        assert struct.unpack("<I", crc)[0] == crc32c(idx), (name, key, "crc")
        assert offset == 0 and nbytes == len(body), (name, key, offset, nbytes)
        if case["level"] is not None:
            # One frame with the content size and the content checksum.
            fhd = body[4]
            assert body[:4] == b"\x28\xb5\x2f\xfd" and fhd & 0x20 and fhd & 0x04, (name, key)
            body = numcodecs.Zstd().decode(body)
        chunk = np.frombuffer(body, dtype=full.dtype).reshape(case["chunks"])
        assert chunk.tobytes() == padded_chunk(full, index, case["chunks"], full.dtype).tobytes(), (
            name, key)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tool", required=True)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ockpt-zarr-py-") as base:
        subprocess.run([args.tool, base], check=True)
        with open(os.path.join(base, "cases.json")) as f:
            cases = json.load(f)
        counts = {2: 0, 3: 0}
        for case in cases:
            dtype = np.dtype(V2_TYPESTR[case["dtype"]])
            with open(os.path.join(base, case["name"] + ".bin"), "rb") as f:
                full = np.frombuffer(f.read(), dtype=dtype).reshape(case["shape"])
            (check_v2 if case["zarr_format"] == 2 else check_v3)(base, case, full)
            counts[case["zarr_format"]] += 1
        print(f"zarr-python {zarr.__version__}: {counts[2]} zarr v2 arrays, "
              f"{counts[3]} zarr v3 arrays checked")
        assert counts[2] > 0 and counts[3] > 0


if __name__ == "__main__":
    main()
