#!/usr/bin/python3
"""flax's own checkpoint files (issue 12): a flax.serialization msgpack file
of any name, and a flax.training.checkpoints directory of checkpoint_<step>
files, open with every command that reads a checkpoint.

  flax_test.py OCKPT TESTDATA_DIR
"""
import hashlib, json, os, subprocess, sys, tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks

OCKPT, DATA = sys.argv[1], sys.argv[2]
FLAX = os.path.join(DATA, "flax")
check = Checks()


def run(*args):
    p = subprocess.run([OCKPT, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def npy_sha(path, dtype):
    a = np.load(path)
    return hashlib.sha256(np.ascontiguousarray(a).tobytes("C")).hexdigest()


expected = json.load(open(os.path.join(FLAX, "expected.json")))
tmp = tempfile.mkdtemp(prefix="ockpt-flax-")
# Any file name: flax wrote checkpoint_<step>, users rename them freely.
src = os.path.join(tmp, "my_model.ckpt")
with open(os.path.join(FLAX, "flax_state.msgpack"), "rb") as f, open(src, "wb") as g:
    g.write(f.read())

# metadata: every array leaf with its dtype and shape.
rc, out, err = run("metadata", src, "--json")
check(rc == 0, f"metadata of a flax file: exit {rc}: {err}")
if rc == 0:
    doc = json.loads(out)
    leaves = {l["name"]: l for item in doc["items"].values() for l in item.get("leaves", [])}
    for name, want in expected.items():
        got = leaves.get(name)
        check(got is not None and got.get("dtype") == want["dtype"] and got.get("shape") == want["shape"],
              f"metadata leaf {name}: {got} vs {want}")
    check("note" in leaves and "empty" in leaves, "metadata lists the None and the empty dict")

# restore: bit-exact values (bfloat16 as raw bits).
out_dir = os.path.join(tmp, "restored")
rc, out, err = run("restore", src, out_dir)
check(rc == 0, f"restore of a flax file: exit {rc}: {err}")
if rc == 0:
    for name, want in expected.items():
        path = os.path.join(out_dir, *name.split(".")) + ".npy"
        check(os.path.exists(path) and npy_sha(path, want["dtype"]) == want["sha256"], f"restored {name}")

# verify decodes everything.
rc, out, err = run("verify", src)
check(rc == 0, f"verify of a flax file: exit {rc}: {out} {err}")

# convert to an Orbax checkpoint, then read that back bit-exact.
ck = os.path.join(tmp, "as_orbax")
rc, out, err = run("convert", src, ck, "--format", "orbax")
check(rc == 0, f"convert flax -> orbax: exit {rc}: {err}")
if rc == 0:
    back = os.path.join(tmp, "back")
    rc, out, err = run("restore", ck, back)
    check(rc == 0, f"restore of the converted checkpoint: exit {rc}: {err}")
    for name, want in expected.items():
        path = os.path.join(back, *name.split(".")) + ".npy"
        check(os.path.exists(path) and npy_sha(path, want["dtype"]) == want["sha256"], f"converted {name}")
    rc, out, err = run("diff", src, ck)
    check(rc == 0, f"diff flax file vs converted checkpoint: exit {rc}: {out} {err}")

# A flax checkpoint directory: steps are checkpoint_<step> files.
ckdir = os.path.join(FLAX, "flax_ckpt_dir")
rc, out, err = run("ls-steps", ckdir, "--json")
check(rc == 0, f"ls-steps on a flax directory: exit {rc}: {err}")
if rc == 0:
    doc = json.loads(out)
    steps = [(s["step"], s["status"]) for s in doc["steps"]]
    check(steps == [(100, "committed"), (200, "committed")], f"flax steps: {steps}")
    check(doc["latest_step"] == 200, f"latest step {doc['latest_step']}")
for step, want_value in ((None, 200.0), (100, 100.0)):
    o = os.path.join(tmp, f"step_{step}")
    args = ["restore", ckdir, o] + (["--step", str(step)] if step is not None else [])
    rc, out, err = run(*args)
    check(rc == 0, f"restore {args}: exit {rc}: {err}")
    if rc == 0:
        w = np.load(os.path.join(o, "params", "w.npy"))
        check(w.shape == (2, 2) and float(w[0, 0]) == want_value, f"step {step}: w = {w}")
rc, out, err = run("metadata", ckdir, "--json")
check(rc == 0 and json.loads(out).get("step") == 200, f"metadata of a flax directory: exit {rc}: {err}")

# Not msgpack: a clear error, not a crash.
bad = os.path.join(tmp, "not_a_checkpoint.bin")
with open(bad, "wb") as f:
    f.write(b"\x85garbage")
rc, out, err = run("restore", bad, os.path.join(tmp, "bad_out"))
check(rc in (3, 4) and err.startswith("ockpt:"), f"garbage file: exit {rc}: {err}")
check.exit()
