#!/usr/bin/python3
"""Writes flax-style msgpack checkpoint files for the tests.

The encoding follows flax.serialization (msgpack_serialize / to_bytes) as
documented there: a state dict (lists and tuples become {"0": ..., "1": ...}
dicts), numpy arrays as msgpack ext type 1 holding msgpack
(shape, dtype name, C-order bytes), numpy scalars as ext type 3 (a 0-d
array), Python complex as ext type 2 holding msgpack (real, imag), arrays
above flax's chunk limit as {"__msgpack_chunked_array__": True,
"shape": {"0": d0, ...}, "chunks": {"0": flat piece, ...}}. The chunk limit
is lowered here so that the test files stay small (readers do not depend
on it). Written without flax or JAX; the expected values go to
expected.json (name -> dtype, shape, sha256 of the C-order bytes).

  tests/data/flax/make_flax.py [OUTDIR]
"""
import hashlib, json, os, sys
import msgpack
import numpy as np

CHUNK_ELEMS = 5  # flax uses 2**30 bytes; small here to exercise chunking


def nd(arr, dtype_name=None):
    arr = np.array(arr, order="C")
    return msgpack.packb((list(arr.shape), dtype_name or arr.dtype.name, arr.tobytes("C")), use_bin_type=True)


def ext_array(arr, dtype_name=None):
    return msgpack.ExtType(1, nd(arr, dtype_name))


def chunked(arr):
    flat = arr.reshape(-1)
    pieces = [flat[i:i + CHUNK_ELEMS] for i in range(0, flat.size, CHUNK_ELEMS)]
    return {"__msgpack_chunked_array__": True,
            "shape": {str(i): d for i, d in enumerate(arr.shape)},
            "chunks": {str(i): ext_array(p) for i, p in enumerate(pieces)}}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(7)
    expected = {}

    def record(name, arr, dtype_name=None):
        arr = np.array(arr, order="C")
        expected[name] = {"dtype": dtype_name or arr.dtype.name, "shape": list(arr.shape),
                          "sha256": hashlib.sha256(arr.tobytes("C")).hexdigest()}
        return arr

    kernel = record("params.Dense_0.kernel", rng.standard_normal((3, 4)).astype(np.float32))
    bias = record("params.Dense_0.bias", np.arange(4, dtype=np.float32))
    emb = record("params.embed.embedding", rng.standard_normal((4, 6)).astype(np.float32))
    mu = record("opt_state.0.mu.Dense_0.kernel", np.zeros((3, 4), np.float32))
    count = record("opt_state.0.count", np.array(7, np.int32))
    bf = np.arange(6, dtype=np.uint16).reshape(2, 3) + 0x3f80
    record("params.bf16", bf, "bfloat16")
    big = record("params.big_int", np.array([2**62 + 1, -5], np.int64))
    cplx = record("params.c64", (np.arange(3) + 1j).astype(np.complex64))
    record("step", np.array(1000, np.int64))
    record("lr", np.array(0.5, np.float64))
    record("flag", np.array(True))
    record("z", np.array(1.5 - 2j, np.complex128))
    state = {
        "params": {
            "Dense_0": {"kernel": ext_array(kernel), "bias": ext_array(bias)},
            "embed": {"embedding": chunked(emb)},
            "bf16": ext_array(bf, "bfloat16"),
            "big_int": ext_array(big),
            "c64": ext_array(cplx),
        },
        # An optax chain state: a tuple of (ScaleByAdamState, EmptyState()),
        # as flax's state dict writes it.
        "opt_state": {"0": {"count": msgpack.ExtType(3, nd(count)), "mu": {"Dense_0": {"kernel": ext_array(mu)}}},
                      "1": {}},
        "step": 1000,
        "lr": 0.5,
        "flag": True,
        "z": msgpack.ExtType(2, msgpack.packb((1.5, -2.0))),
        "note": None,
        "empty": {},
    }
    os.makedirs(out, exist_ok=True)
    data = msgpack.packb(state, use_bin_type=True)
    with open(os.path.join(out, "flax_state.msgpack"), "wb") as f:
        f.write(data)
    # A flax.training.checkpoints directory: checkpoint_<step> files.
    ckdir = os.path.join(out, "flax_ckpt_dir")
    os.makedirs(ckdir, exist_ok=True)
    for step in (100, 200):
        small = {"params": {"w": ext_array(np.full((2, 2), step, np.float32))}, "step": step}
        with open(os.path.join(ckdir, f"checkpoint_{step}"), "wb") as f:
            f.write(msgpack.packb(small, use_bin_type=True))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
