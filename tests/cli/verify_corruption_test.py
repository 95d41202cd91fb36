#!/usr/bin/env python3
"""`ockpt verify` never exits 0 on a damaged checkpoint it could have caught.

usage: verify_corruption_test.py OCKPT [FLIPS]

* With --check-sums, every single-byte change of any file of the checkpoint is
  detected (a sample of FLIPS random bytes, each flipped alone).
* Without sums, every single-byte change of an OCDBT manifest or of a B+tree
  node file of the root database is detected (every byte of them).
* `diff` exits 0 on the checkpoint and its copy, 1 after one value changes,
  and names the leaf and the index.
"""
from clitest import Checks
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ockpt = sys.argv[1]
flips = int(sys.argv[2]) if len(sys.argv) > 2 else 80
random.seed(99)
check = Checks()


def verify(path, *flags):
    return subprocess.run([ockpt, "verify", path, *flags], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).returncode


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x41]))
        return b


def restore_byte(path, offset, b):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b)


with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    rng = np.random.default_rng(5)
    np.save(os.path.join(src, "w.npy"), rng.standard_normal((64, 64)).astype(np.float32))
    np.save(os.path.join(src, "b.npy"), np.arange(10, dtype=np.int64))
    np.save(os.path.join(src, "s.npy"), np.array(3.5))
    ckpt = os.path.join(tmp, "ckpt")
    r = subprocess.run([ockpt, "save", src, ckpt, "--chunk-bytes", "4096"])
    check(r.returncode == 0, "save")
    check(verify(ckpt) == 0, "verify of an intact checkpoint exits 0")
    check(verify(ckpt, "--write-sums") == 0, "verify --write-sums")
    check(os.path.exists(ckpt + ".ockpt-sums.json"), "sums file next to the checkpoint")
    check(verify(ckpt, "--check-sums") == 0, "verify --check-sums of an intact checkpoint")

    files = []
    for dirpath, _, names in os.walk(ckpt):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.getsize(p) > 0:
                files.append(p)
    files.sort()
    for _ in range(flips):
        p = random.choice(files)
        off = random.randrange(os.path.getsize(p))
        old = flip(p, off)
        rc = verify(ckpt, "--check-sums")
        restore_byte(p, off, old)
        check(rc == 1, "--check-sums missed a flip at %s:%d (exit %d)" % (os.path.relpath(p, ckpt), off, rc))

    node_files = [os.path.join(ckpt, "manifest.ocdbt"), os.path.join(ckpt, "ocdbt.process_0", "manifest.ocdbt")]
    node_files += [os.path.join(ckpt, "d", n) for n in os.listdir(os.path.join(ckpt, "d"))]
    for p in node_files:
        size = os.path.getsize(p)
        missed = []
        for off in range(size):
            old = flip(p, off)
            rc = verify(ckpt)
            restore_byte(p, off, old)
            if rc != 1:
                missed.append((off, rc))
        check(not missed, "verify without sums missed flips in %s: %s" % (os.path.relpath(p, ckpt), missed[:5]))
    check(verify(ckpt) == 0, "checkpoint intact again")

    copy = os.path.join(tmp, "copy")
    shutil.copytree(ckpt, copy)
    d = subprocess.run([ockpt, "diff", ckpt, copy], stdout=subprocess.PIPE)
    check(d.returncode == 0, "diff of identical copies exits 0")
    out = os.path.join(tmp, "npy")
    subprocess.run([ockpt, "restore", ckpt, out], check=True)
    w = np.load(os.path.join(out, "w.npy"))
    w[17, 3] += 1.0
    np.save(os.path.join(out, "w.npy"), w)
    d = subprocess.run([ockpt, "diff", ckpt, out, "--json"], stdout=subprocess.PIPE)
    check(d.returncode == 1, "diff after one changed value exits 1")
    doc = json.loads(d.stdout)
    diffs = doc.get("differences", [])
    check(len(diffs) == 1 and diffs[0]["name"] == "w" and diffs[0]["first_index"] == [17, 3]
          and diffs[0]["differing_elements"] == 1, "diff names leaf and index: %s" % diffs)
    d = subprocess.run([ockpt, "diff", ckpt, out, "--atol", "1.5"], stdout=subprocess.PIPE)
    check(d.returncode == 0, "diff within --atol exits 0")

check.exit()
