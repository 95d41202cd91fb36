#!/usr/bin/env python3
"""`ockpt convert` / `restore --format` / `save` with HDF5, npz and safetensors,
checked against independent readers and writers.

usage: convert_interop_test.py OCKPT GOLDEN_DIR

* Files written by h5py, numpy.savez and numpy.savez_compressed convert to
  checkpoints that restore bit-exact (values, dtypes, shapes).
* h5py reads every .h5 ockpt writes and NumPy every .npz, with the values,
  dtypes and shapes of the .npy restore; a safetensors reader written here
  (struct + json) agrees with every .safetensors ockpt writes.
* checkpoint -> h5 / npz / safetensors -> checkpoint keeps _METADATA and
  _sharding byte-identical and every value bit-exact.
* Hostile inputs (truncated or huge safetensors headers, offsets past EOF,
  corrupt zips, non-HDF5 files) fail with exit 4 and name the file.
Prints `N passed, M failed`; exits 1 on any failure.
"""
from clitest import Checks
import json
import os
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ockpt, golden = sys.argv[1], sys.argv[2]
START = os.path.join(golden, "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                     "pytree_checkpointable_has_metadata")
check = Checks()


def run(*args, ok=True):
    p = subprocess.run([ockpt, "--no-progress"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if ok and p.returncode != 0:
        print("command failed:", " ".join(args), p.stderr.decode(errors="replace")[:2000], flush=True)
    check(not ok or p.returncode == 0, "ockpt " + " ".join(args))
    return p


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def npy_dir(d):
    """{dotted name: array} and the _tree.json of a .npy directory restore."""
    with open(os.path.join(d, "_tree.json")) as f:
        tree = json.load(f)
    arrays = {}
    for leaf in tree["leaves"]:
        if leaf["value_type"] in ("string", "Dict", "List", "Tuple", "None", "NamedTuple"):
            continue
        path = os.path.join(d, *[k["key"] for k in leaf["keypath"]]) + ".npy"
        arrays[leaf["name"]] = np.load(path)
    return arrays, tree


def read_safetensors(path):
    """An independent safetensors reader: header via struct + json, strict checks."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header length %d is not a multiple of 8" % n
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buf = data[8 + n:]
    dtypes = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "BF16": "<u2", "I8": "i1", "I16": "<i2", "I32": "<i4",
              "I64": "<i8", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?",
              "F8_E4M3": "u1", "F8_E5M2": "u1", "C64": "<c8"}
    meta = header.pop("__metadata__", None)
    out, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = info["data_offsets"]
        assert b == end, "tensor %s starts at %d, expected %d" % (name, b, end)
        dt = np.dtype(dtypes[info["dtype"]])
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert e - b == count * dt.itemsize
        assert b % dt.itemsize == 0, "tensor %s is not aligned" % name
        out[name] = np.frombuffer(buf[b:e], dtype=dt).reshape(info["shape"])
        end = e
    assert end == len(buf), "data buffer has %d bytes, tensors cover %d" % (len(buf), end)
    return out, meta


def h5_read(path):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind not in "SOU":
            out[name.replace("/", ".")] = obj[()]
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def npz_read(path):
    with np.load(path) as z:
        return {k.replace("/", "."): z[k] for k in z.files if k != "_tree.json"}


def compare_maps(ref, got, what):
    check(sorted(ref) == sorted(got), "%s: leaves %s vs %s" % (what, sorted(ref), sorted(got)))
    for k, a in ref.items():
        if k in got:
            check(same(a, got[k]), "%s: %s differs (%s%s vs %s%s)" % (what, k, a.dtype, a.shape, got[k].dtype,
                                                                      got[k].shape))


def files_equal(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


with tempfile.TemporaryDirectory() as tmp:
    T = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    rng = np.random.default_rng(3)

    # ---- 1. Files made by h5py / numpy convert to checkpoints that restore bit-exact.
    h5_arrays = {
        "params/dense/kernel": rng.standard_normal((16, 9)).astype(np.float32),
        "params/dense/bias": rng.standard_normal(9),
        "params/half": rng.standard_normal((4, 5)).astype(np.float16),
        "mask": rng.integers(0, 2, 11).astype(bool),
        "z64": (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(np.complex64),
        "z128": rng.standard_normal(3) + 1j * rng.standard_normal(3),
        "i8": rng.integers(-128, 127, (2, 3, 4), dtype=np.int8),
        "u64": rng.integers(0, 2**63, 5, dtype=np.uint64),
        "scalar": np.float64(2.5),
    }
    be = rng.integers(-2**31, 2**31 - 1, (3, 7), dtype=np.int32)
    gz = rng.standard_normal((50, 40)).astype(np.float32)
    with h5py.File(T("made.h5"), "w") as f:
        for k, v in h5_arrays.items():
            f[k] = v
        f.create_dataset("bigendian", data=be.astype(">i4"))
        f.create_dataset("compressed", data=gz, chunks=(7, 9), compression="gzip")
        f["title"] = "hello h5"
        f.create_group("empty")
        f.attrs["note"] = "ignored"
    expect = {k.replace("/", "."): np.asarray(v) for k, v in h5_arrays.items()}
    expect["bigendian"] = be
    expect["compressed"] = gz
    p = run("convert", T("made.h5"), T("from_h5"))
    if p.returncode == 0:
        run("restore", T("from_h5"), T("from_h5_npy"))
        got, tree = npy_dir(T("from_h5_npy"))
        compare_maps(expect, got, "h5py file -> checkpoint -> restore")
        strings = {l["name"]: l.get("value") for l in tree["leaves"] if l["value_type"] == "string"}
        check(strings == {"title": "hello h5"}, "string dataset became a string leaf: %s" % strings)
        kinds = {l["name"]: l["value_type"] for l in tree["leaves"]}
        check(kinds.get("empty") == "Dict", "empty group became an empty dict: %s" % kinds.get("empty"))

    npz_arrays = {
        "params/w": rng.standard_normal((8, 3)).astype(np.float32),
        "params/b": rng.integers(0, 100, 3, dtype=np.int64),
        "step": np.array(7, dtype=np.int32),
        "flags": rng.integers(0, 2, 4).astype(bool),
    }
    for saver in ("savez", "savez_compressed"):
        path = T(saver + ".npz")
        getattr(np, saver)(path, **npz_arrays)
        p = run("convert", path, T(saver + "_ckpt"))
        if p.returncode == 0:
            run("restore", T(saver + "_ckpt"), T(saver + "_npy"))
            got, _ = npy_dir(T(saver + "_npy"))
            compare_maps({k.replace("/", "."): v for k, v in npz_arrays.items()}, got,
                         "numpy.%s -> checkpoint -> restore" % saver)

    # ---- 2. A rich tree as a checkpoint: bfloat16, sequences, strings, empty nodes, custom metadata.
    rich = T("rich_src")
    os.makedirs(os.path.join(rich, "opt", "0"))
    os.makedirs(os.path.join(rich, "params"))
    bf16 = rng.integers(0, 2**16, (4, 6), dtype=np.uint16)
    kernel = rng.standard_normal((32, 8)).astype(np.float32)
    mu = rng.standard_normal((3, 3)).astype(np.float32)
    np.save(os.path.join(rich, "params", "bf16.npy"), bf16)
    np.save(os.path.join(rich, "params", "kernel.npy"), kernel)
    np.save(os.path.join(rich, "opt", "0", "mu.npy"), mu)
    np.save(os.path.join(rich, "count.npy"), np.array(5, dtype=np.int64))
    D, S = "dict", "sequence"
    tree = {"leaves": [
        {"keypath": [{"key": "params", "type": D}, {"key": "bf16", "type": D}], "value_type": "jax.Array",
         "dtype": "bfloat16"},
        {"keypath": [{"key": "params", "type": D}, {"key": "kernel", "type": D}], "value_type": "jax.Array",
         "sharding": {"sharding_type": "NamedSharding", "shape": [1], "axis_names": ["x"],
                      "partition_spec": [None, None]}},
        {"keypath": [{"key": "opt", "type": D}, {"key": "0", "type": S}, {"key": "mu", "type": D}],
         "value_type": "np.ndarray"},
        {"keypath": [{"key": "count", "type": D}], "value_type": "scalar"},
        {"keypath": [{"key": "name", "type": D}], "value_type": "string", "value": "run-\u00e9"},
        {"keypath": [{"key": "nothing", "type": D}], "value_type": "None"},
        {"keypath": [{"key": "opt", "type": D}, {"key": "1", "type": S}], "value_type": "Dict"},
    ], "custom_metadata": {"epoch": 3, "lr": 0.001, "tags": ["a", "b"], "format": "flax"}}
    with open(os.path.join(rich, "_tree.json"), "w") as f:
        json.dump(tree, f)

    for name, src in (("golden", START), ("rich", rich)):
        c1 = T(name + "_c1")
        run("save", src, c1, "--chunk-bytes", "256")
        run("restore", c1, T(name + "_ref"))
        ref, ref_tree = npy_dir(T(name + "_ref"))
        for fmt, ext in (("h5", ".h5"), ("npz", ".npz"), ("safetensors", ".safetensors")):
            out = T(name + "_out" + ext)
            run("restore", c1, out)  # format from the extension
            # Independent readers agree with the .npy restore.
            if fmt == "h5":
                compare_maps(ref, h5_read(out), "%s: h5py reads %s" % (name, out))
            elif fmt == "npz":
                compare_maps(ref, npz_read(out), "%s: numpy reads %s" % (name, out))
            else:
                try:
                    tensors, meta = read_safetensors(out)
                    compare_maps(ref, tensors, "%s: safetensors reader on %s" % (name, out))
                    check(meta is not None and "ockpt.tree" in meta, "%s: __metadata__ keeps the tree" % name)
                    if name == "rich":
                        check(meta.get("format") == "flax", "string custom metadata copied into __metadata__")
                except AssertionError as e:
                    check(False, "%s: safetensors reader: %s" % (name, e))
            # Back to a checkpoint: _METADATA and _sharding byte-identical, values bit-exact.
            c2 = T(name + "_c2_" + fmt)
            run("convert", out, c2, "--chunk-bytes", "256")
            for f in ("_METADATA", "_sharding"):
                if os.path.exists(os.path.join(c1, f)):
                    check(files_equal(os.path.join(c1, f), os.path.join(c2, f)),
                          "%s: %s differs after checkpoint -> %s -> checkpoint" % (name, f, fmt))
            run("restore", c2, T(name + "_back_" + fmt))
            back, back_tree = npy_dir(T(name + "_back_" + fmt))
            compare_maps(ref, back, "%s: values after checkpoint -> %s -> checkpoint" % (name, fmt))
            strip = lambda t: [{k: v for k, v in l.items() if k != "stored_bytes"} for l in t["leaves"]]  # noqa
            check(strip(back_tree) == strip(ref_tree), "%s: _tree.json after the %s round trip" % (name, fmt))
            check(back_tree["custom_metadata"] == ref_tree["custom_metadata"], "%s: custom metadata via %s" % (name, fmt))
        # File to file, and --format overriding the extension.
        run("convert", T(name + "_out.h5"), T(name + "_h5.safetensors"))
        tensors, _ = read_safetensors(T(name + "_h5.safetensors"))
        compare_maps(ref, tensors, "%s: h5 -> safetensors" % name)
        run("restore", c1, T(name + "_fmt.bin"), "--format", "hdf5")
        compare_maps(ref, h5_read(T(name + "_fmt.bin")), "%s: restore --format hdf5" % name)
        run("convert", T(name + "_out.npz"), T(name + "_npz_dir"), "--format", "npy")
        got, _ = npy_dir(T(name + "_npz_dir"))
        compare_maps(ref, got, "%s: npz -> .npy directory" % name)

    # The rich tree's special leaves in the h5 file: bfloat16 as uint16 with its dtype recorded.
    with h5py.File(T("rich_out.h5"), "r") as f:
        check(f["params/bf16"].dtype == np.uint16 and f["params/bf16"].attrs["ockpt_dtype"] == "bfloat16",
              "bfloat16 stored as uint16 + ockpt_dtype")
        check(f["opt"].attrs.get("ockpt_key_type") == "sequence", "sequence keys recorded on the group")
        check(f["name"][()].decode() == "run-\u00e9", "string leaf as an HDF5 string")
        check(f["nothing"].attrs["ockpt_value_type"] == "None", "empty node as an empty group")
        check(json.loads(f.attrs["ockpt_custom_metadata"]) == tree["custom_metadata"], "custom metadata attribute")

    # ---- 3. Refusals and hostile inputs.
    def expect_fail(code, args, name_in_message=None):
        p = run(*args, ok=False)
        err = p.stderr.decode(errors="replace")
        check(p.returncode == code, "ockpt %s: exit %d, expected %d (%s)" % (" ".join(args), p.returncode, code,
                                                                              err.strip()))
        if name_in_message:
            check(name_in_message in err, "message names %s: %s" % (name_in_message, err.strip()))

    expect_fail(5, ["convert", T("rich_out.h5"), T("rich_out.npz")])
    expect_fail(5, ["restore", T("rich_c1"), T("rich_out.h5")])
    expect_fail(2, ["convert", T("rich_out.h5"), T("x.out"), "--format", "parquet"])
    expect_fail(2, ["convert", T("rich_out.h5"), T("x2.npz"), "--zarr3"])
    expect_fail(3, ["convert", T("missing.h5"), T("x3")])
    expect_fail(4, ["convert", T("made.h5"), T("made.safetensors")], "complex128")
    check(not os.path.exists(T("made.safetensors")), "no output after a refused conversion")

    def write(name, data):
        with open(T(name), "wb") as f:
            f.write(data)
        return T(name)

    hdr = json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    write("trunc.safetensors", struct.pack("<Q", len(hdr)) + hdr[:10])
    write("eof.safetensors", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 4)
    write("huge.safetensors", struct.pack("<Q", 2**62) + b"{}")
    write("corrupt.npz", b"PK\x03\x04" + os.urandom(300))
    write("notzip.npz", os.urandom(500))
    write("nothdf.h5", b"\x89HDF\r\n\x1a\n" + os.urandom(400))
    write("tiny.safetensors", b"\x01\x02")
    for name in ("trunc.safetensors", "eof.safetensors", "huge.safetensors", "corrupt.npz", "notzip.npz",
                 "nothdf.h5", "tiny.safetensors"):
        expect_fail(4, ["convert", T(name), T("out_" + name + "_ckpt")], name)
        check(not os.path.exists(T("out_" + name + "_ckpt")), "no output left for %s" % name)
        expect_fail(4, ["convert", T(name), T("out_" + name + ".h5")], name)
        check(not any(e.startswith("out_" + name + ".h5") for e in os.listdir(tmp)), "no temp file left for %s" % name)

check.exit()
