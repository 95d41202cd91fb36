#!/usr/bin/env python3
"""What ockpt writes, `ockpt verify` can prove on its own (issue 16).

usage: verify_checksum_test.py OCKPT GOLDEN_DIR [FLIPS]

* `ockpt save` (zarr2 and --zarr3, OCDBT): every zstd frame carries its
  content checksum; verify counts the chunks as checksummed and reports no
  "no checksum" chunks. One byte flipped at FLIPS (50) sampled positions inside
  the out-of-line chunk values (located with `ockpt ocdbt ls --json`): verify
  exits 1 for every flip, with no sums file present.
* python3-zarr / numcodecs decode the checksummed zarr2 frames.
* `--no-zstd-checksum` writes TensorStore's frames (no checksum flag); verify
  then reports their chunks as unverifiable.
* An Orbax-written golden checkpoint: verify exits 0 but reports the chunks it
  could not prove ("decoded, no checksum", --json no_checksum.chunks > 0).
"""
from clitest import Checks
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import numcodecs

ockpt, golden = sys.argv[1], sys.argv[2]
flips = int(sys.argv[3]) if len(sys.argv) > 3 else 50
random.seed(16)
check = Checks()


def run(*args):
    return subprocess.run([ockpt, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def verify_json(path):
    p = run("verify", path, "--json")
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, None


def chunk_ranges(ckpt):
    """(file, offset, size, key) of every out-of-line chunk value."""
    out = []
    for db in (ckpt, os.path.join(ckpt, "ocdbt.process_0")):
        p = run("ocdbt", "ls", db, "--json")
        if not check(p.returncode == 0, "ocdbt ls %s" % db):
            continue
        for k in json.loads(p.stdout)["keys"]:
            if k["key"].endswith((".zarray", "zarr.json", ".zattrs")):
                continue
            if k.get("storage") != "indirect":
                continue
            out.append((os.path.join(db, k["file"]), k["offset"], k["size"], k["key"]))
        if out:
            break  # the root database refers to the same values
    return out


with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    rng = np.random.default_rng(16)
    w = rng.standard_normal((64, 64)).astype(np.float32)
    b = rng.integers(0, 1 << 62, 2000, dtype=np.int64)  # incompressible: out of line
    np.save(os.path.join(src, "w.npy"), w)
    np.save(os.path.join(src, "b.npy"), b)

    for layout, flags in (("zarr2", []), ("zarr3", ["--zarr3"])):
        ckpt = os.path.join(tmp, layout)
        p = run("save", src, ckpt, "--chunk-bytes", "4096", *flags)
        if not check(p.returncode == 0, "save %s: %s" % (layout, p.stderr.decode(errors="replace"))):
            continue
        rc, rep = verify_json(ckpt)
        check(rc == 0 and rep and rep["ok"], "%s: verify of the intact checkpoint exits 0" % layout)
        total = rep["checksummed_chunks"] if rep else -1
        if rep:
            check(rep["no_checksum"]["chunks"] == 0 and rep["no_checksum"]["leaves"] == [],
                  "%s: no unverifiable chunks: %s" % (layout, rep["no_checksum"]))
            check(rep["checksummed_chunks"] >= 8, "%s: checksummed chunks counted (%s)"
                  % (layout, rep.get("checksummed_chunks")))
        text = run("verify", ckpt).stdout.decode()
        check("no checksum" not in text and "carry checksums of their own" in text,
              "%s: text report: %s" % (layout, text))

        ranges = chunk_ranges(ckpt)
        check(len(ranges) >= 8, "%s: out-of-line chunk values found (%d)" % (layout, len(ranges)))
        if not ranges:
            continue
        # Every stored frame says it carries a checksum.
        for path, off, size, key in ranges:
            with open(path, "rb") as f:
                f.seek(off)
                head = f.read(5)
            check(head[:4] == b"\x28\xb5\x2f\xfd" and head[4] & 0x04,
                  "%s: %s: frame header %s has no checksum flag" % (layout, key, head.hex()))
            if layout == "zarr2":
                with open(path, "rb") as f:
                    f.seek(off)
                    frame = f.read(size)
                data = numcodecs.Zstd().decode(frame)
                check(len(data) > 0, "numcodecs decodes %s" % key)

        for _ in range(flips):
            path, off, size, key = random.choice(ranges)
            pos = off + random.randrange(size)
            with open(path, "r+b") as f:
                f.seek(pos)
                old = f.read(1)
                f.seek(pos)
                f.write(bytes([old[0] ^ (1 << random.randrange(8))]))
            p = run("verify", ckpt)
            with open(path, "r+b") as f:
                f.seek(pos)
                f.write(old)
            check(p.returncode == 1, "%s: flip in %s at byte %d of %d: verify exited %d: %s"
                  % (layout, key, pos - off, size, p.returncode, p.stdout.decode(errors="replace")[-400:]))
        check(not os.path.exists(ckpt + ".ockpt-sums.json"), "no sums file was involved")
        check(run("verify", ckpt).returncode == 0, "%s: verify after restoring every byte" % layout)

        # Without the checksum: TensorStore's frames, reported as unverifiable.
        plain = ckpt + "_plain"
        p = run("save", src, plain, "--chunk-bytes", "4096", "--no-zstd-checksum", *flags)
        if check(p.returncode == 0, "save --no-zstd-checksum %s" % layout):
            rc, rep = verify_json(plain)
            check(rc == 0 and rep and rep["no_checksum"]["chunks"] == total
                  and rep["checksummed_chunks"] == 0,
                  "%s --no-zstd-checksum: every chunk unverifiable: %s" % (layout, rep and rep["no_checksum"]))
            for path, off, size, key in chunk_ranges(plain)[:3]:
                with open(path, "rb") as f:
                    f.seek(off)
                    check(not f.read(5)[4] & 0x04, "--no-zstd-checksum frame %s has no checksum flag" % key)

    # Uncompressed chunks carry no checksum: reported, not counted.
    raw = os.path.join(tmp, "raw")
    if check(run("save", src, raw, "--compression", "none").returncode == 0, "save --compression none"):
        rc, rep = verify_json(raw)
        check(rc == 0 and rep and rep["no_checksum"]["chunks"] > 0 and rep["checksummed_chunks"] == 0,
              "--compression none: chunks reported unverifiable: %s" % (rep and rep["no_checksum"]))

    # An Orbax-written checkpoint: OK, but the unverifiable chunks are counted.
    orbax = os.path.join(golden, "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                         "pytree_checkpointable_has_metadata")
    rc, rep = verify_json(orbax)
    check(rc == 0 and rep and rep["no_checksum"]["chunks"] > 0 and rep["checksummed_chunks"] == 0,
          "Orbax golden: unverifiable chunks counted: %s" % (rep and rep["no_checksum"]))
    p = run("verify", orbax)
    text = p.stdout.decode()
    check(p.returncode == 0 and "decoded, no checksum: %d chunks" % rep["no_checksum"]["chunks"] in text,
          "Orbax golden: the text report names the unverifiable chunks: %s" % text)

check.exit()
