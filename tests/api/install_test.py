#!/usr/bin/env python3
"""The installed C++ library, used the way a consumer uses it.

usage: install_test.py --build BUILD --source SRC --cmake CMAKE --ockpt OCKPT
                       [--ngocdbt RUN_SH]

1. `cmake --install BUILD --prefix P` (a temporary P): headers in
   P/include/ockpt/ (standard headers only), ockptConfig.cmake and
   ockptConfigVersion.cmake in P/lib*/cmake/ockpt/, no dependency of ockpt's
   own named in the package files.
2. examples/cpp configured with only -DCMAKE_PREFIX_PATH=P and built.
3. ockpt_leaves on every readable golden item, checkpoint and manager root:
   each leaf's SHA-256 equals `values.sha256_le_c_order` of
   tests/data/golden/_expected (bit-exact); ockpt_manager_root opens the
   latest step and reads a first row.
4. ockpt_save_arrays in every layout: `ockpt metadata --json` and `ockpt
   restore` (NumPy) read the arrays back; python3-zarr opens the --no-ocdbt
   zarr v2 arrays; neuroglancer's OCDBT reader (RUN_SH, when present; else
   skipped with a message) lists the saved database and its extracted keys
   open in python3-zarr.
Prints `N passed, M failed`; exits 1 on any failure.
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from clitest import Checks  # noqa: E402

import numpy as np  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", required=True)
ap.add_argument("--source", required=True)
ap.add_argument("--cmake", default="cmake")
ap.add_argument("--ockpt", required=True)
ap.add_argument("--ngocdbt", default="")
args = ap.parse_args()
check = Checks()
golden = os.path.join(args.source, "tests", "data", "golden")


def run(*cmd, ok=True, **kw):
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if ok and p.returncode != 0:
        print("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(map(str, cmd)),
              p.stdout.decode(errors="replace")[-2000:], p.stderr.decode(errors="replace")[-3000:]))
    return p


def leaves_of(exe, path, *extra):
    """{name: sha256} and the step line from ockpt_leaves."""
    p = run(exe, path, *extra)
    if p.returncode != 0:
        return None, None
    step, got = None, {}
    for line in p.stdout.decode().splitlines():
        if line.startswith("step "):
            step = int(line.split()[1])
            continue
        sha, rest = line.split("  ", 1)
        got[rest.split(" ")[0]] = sha
    return got, step


tmp = tempfile.mkdtemp(prefix="ockpt_install_test_")
try:
    # --- 1. install ---
    prefix = os.path.join(tmp, "prefix")
    p = run(args.cmake, "--install", args.build, "--prefix", prefix)
    if not check(p.returncode == 0, "cmake --install"):
        check.exit()
    header = os.path.join(prefix, "include", "ockpt", "ockpt.h")
    check(os.path.isfile(header), "P/include/ockpt/ockpt.h installed")
    for h in glob.glob(os.path.join(prefix, "include", "ockpt", "*.h")):
        for line in open(h):
            if line.startswith("#include"):
                inc = line.split()[1]
                check(inc.startswith("<") and "/" not in inc or inc.startswith('"ockpt/'),
                      "%s includes only standard and ockpt headers (%s)" % (os.path.basename(h), inc))
    cfg = glob.glob(os.path.join(prefix, "lib*", "cmake", "ockpt", "ockptConfig.cmake"))
    check(len(cfg) == 1, "P/lib*/cmake/ockpt/ockptConfig.cmake installed")
    if cfg:
        pkgdir = os.path.dirname(cfg[0])
        check(os.path.isfile(os.path.join(pkgdir, "ockptConfigVersion.cmake")), "ockptConfigVersion.cmake")
        text = "".join(open(f).read() for f in glob.glob(os.path.join(pkgdir, "*.cmake")))
        for dep in ("fmt", "nlohmann", "zstd", "msgpack", "blosc", "isal", "OpenSSL", "find_dependency"):
            check(dep not in text, "the package files name no dependency of ockpt's own (%s)" % dep)
    check(bool(glob.glob(os.path.join(prefix, "lib*", "libockpt.so*"))), "libockpt.so installed")
    check(os.path.isfile(os.path.join(prefix, "bin", "ockpt")), "the ockpt CLI installed")

    # --- 2. examples/cpp against the prefix ---
    exb = os.path.join(tmp, "examples")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    p = run(args.cmake, "-S", os.path.join(args.source, "examples", "cpp"), "-B", exb, *gen,
            "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release")
    if not check(p.returncode == 0, "configure examples/cpp with find_package(ockpt)"):
        check.exit()
    p = run(args.cmake, "--build", exb, "-j2")
    if not check(p.returncode == 0, "build examples/cpp"):
        check.exit()
    leaves_exe = os.path.join(exb, "ockpt_leaves")
    root_exe = os.path.join(exb, "ockpt_manager_root")
    save_exe = os.path.join(exb, "ockpt_save_arrays")

    # --- 3. golden checkpoints, bit-exact ---
    for sample in ("orbax_compat", "orbax_managed", "tunix_sft_sharded"):
        dbs = json.load(open(os.path.join(golden, "_expected", sample + ".json")))["databases"]
        for rel, db in sorted(dbs.items()):
            if "arrays" not in db or "ocdbt.process_" in rel:
                continue
            want = {n: a["values"]["sha256_le_c_order"] for n, a in db["arrays"].items()}
            item = os.path.join(golden, sample, rel)
            got, _ = leaves_of(leaves_exe, item)
            check(got == want, "%s/%s: leaves and SHA-256 (got %s)" % (sample, rel, got))
            parent = os.path.dirname(item)
            if os.path.basename(item) == "state" or os.path.isfile(os.path.join(parent, "_CHECKPOINT_METADATA")):
                # The checkpoint (composite or step) holding the item: one PyTree item.
                # With several PyTree items (e.g. a damaged "dummy" beside
                # "state") names are prefixed by the item.
                pytrees = [d for d in os.listdir(parent)
                           if os.path.isfile(os.path.join(parent, d, "_METADATA"))]
                if len(pytrees) > 1:
                    want_dir = {os.path.basename(item) + "." + n: h for n, h in want.items()}
                else:
                    want_dir = want
                got, _ = leaves_of(leaves_exe, parent)
                check(got == want_dir, "%s/%s: leaves via the checkpoint dir (got %s)" % (sample, rel, got))
            if sample == "orbax_managed":
                root = os.path.dirname(parent)
                got, step = leaves_of(leaves_exe, root)
                check(got == want and step == 0, "%s/%s: leaves via the manager root" % (sample, rel))
                p = run(root_exe, root)
                out = p.stdout.decode()
                check(p.returncode == 0 and out.startswith("step 0\n")
                      and "a int32 32 bytes, first row: 00 00 00 00" in out,
                      "ockpt_manager_root %s: %s" % (root, out))
                p = run(root_exe, root, "9", ok=False)
                check(p.returncode == 3 and p.stderr, "ockpt_manager_root: a missing step is not found")

    # Legacy msgpack checkpoints (inline and zarr leaves).
    def sha_i64(values):
        return hashlib.sha256(struct.pack("<%dq" % len(values), *values)).hexdigest()
    legacy = {"a": sha_i64(range(8)), "b": sha_i64([2 * i for i in range(16)]),
              "c.a": sha_i64([3 * i for i in range(8)]), "c.e": sha_i64([4 * i for i in range(16)])}
    loose = json.load(open(os.path.join(golden, "_expected", "orbax_legacy_aggregate.json")))["loose_zarr"]
    for name, a in loose["aggregate_some.checkpoint"].items():
        check(legacy[name] == a["values"]["sha256_le_c_order"], "legacy expectation %s" % name)
    for d in ("aggregate_all.checkpoint", "aggregate_some.checkpoint"):
        got, _ = leaves_of(leaves_exe, os.path.join(golden, "orbax_legacy_aggregate", d))
        check(got == legacy, "orbax_legacy_aggregate/%s: %s" % (d, got))

    # t5x's TensorStore checkpointer: zarr metadata inside the msgpack file,
    # one chunk per array ("state.param_states.bias/0" is the leaf
    # optimizer.state.param_states.bias); tiny_orbax lacks its .zarray files
    # upstream, so it cannot be read (as `ockpt restore` fails on it).
    chunks = json.load(open(os.path.join(golden, "_expected", "t5x_tiny.json")))["chunks"]
    want = {"optimizer." + k.split("/")[2]: c["values"]["sha256_le_c_order"]
            for k, c in chunks.items() if k.startswith("tiny_t5/checkpoint_1/")}
    got, _ = leaves_of(leaves_exe, os.path.join(golden, "t5x_tiny", "tiny_t5", "checkpoint_1"))
    check(got is not None and len(want) == 3 and all(got.get(n) == h for n, h in want.items()),
          "t5x_tiny/tiny_t5/checkpoint_1: %s" % got)
    p = run(leaves_exe, os.path.join(golden, "t5x_tiny", "tiny_orbax", "1"), ok=False)
    check(p.returncode == 1 and b"NOT_FOUND" in p.stderr, "t5x_tiny/tiny_orbax/1 (no .zarray) is not found")

    # --- 4. save from memory, read back by others ---
    w = np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.5)
    bf = np.array([0x3f80, 0x4000, 0x4040], dtype=np.uint16)  # bfloat16 1, 2, 3
    for layout, flags in {"zarr2": [], "zarr3": ["--zarr3"], "flat": ["--no-ocdbt"],
                          "flat3": ["--no-ocdbt", "--zarr3"]}.items():
        dest = os.path.join(tmp, "saved_" + layout)
        p = run(save_exe, dest, *flags)
        if not check(p.returncode == 0, "ockpt_save_arrays %s" % layout):
            continue
        p = run(args.ockpt, "metadata", dest, "--json")
        if check(p.returncode == 0, "ockpt metadata %s" % layout):
            doc = json.loads(p.stdout)
            leaves = {l["name"]: l for it in doc["items"].values() for l in it.get("leaves", [])}
            check(leaves.get("params.w", {}).get("dtype") == "float32"
                  and leaves["params.w"]["shape"] == [2, 3]
                  and leaves.get("params.b", {}).get("dtype") == "bfloat16"
                  and leaves.get("step", {}).get("shape") == [], "metadata of %s: %s" % (layout, leaves))
            check(doc["items"][next(iter(doc["items"]))].get("zarr_format") == (3 if "--zarr3" in flags else 2),
                  "zarr format of %s" % layout)
        out = os.path.join(tmp, "restored_" + layout)
        p = run(args.ockpt, "restore", dest, out)
        if check(p.returncode == 0, "ockpt restore %s" % layout):
            check(np.array_equal(np.load(os.path.join(out, "params", "w.npy")), w), "restored params.w (%s)" % layout)
            b = np.load(os.path.join(out, "params", "b.npy"))
            check(b.dtype == np.uint16 and np.array_equal(b, bf), "restored params.b raw bits (%s)" % layout)
            s = np.load(os.path.join(out, "step.npy"))
            check(s.shape == () and s.dtype == np.int64 and int(s) == 42, "restored step (%s)" % layout)
        got, _ = leaves_of(leaves_exe, dest)
        check(got is not None and got.get("params.w") == hashlib.sha256(w.tobytes()).hexdigest(),
              "ockpt_leaves reads back what ockpt_save_arrays wrote (%s)" % layout)
        if layout == "flat":
            import zarr
            z = zarr.open(os.path.join(dest, "params.w"), mode="r")
            check(z.dtype == np.float32 and np.array_equal(z[...], w), "python3-zarr opens params.w")
            z = zarr.open(os.path.join(dest, "step"), mode="r")
            check(z.shape == () and int(z[...]) == 42, "python3-zarr opens step")
        if layout == "zarr2":
            if not args.ngocdbt or not os.path.isfile(args.ngocdbt):
                print("SKIP neuroglancer OCDBT reader: %s not found (../shared absent)" % args.ngocdbt)
            else:
                ours = run(args.ockpt, "ocdbt", "ls", dest, "--json", "--sha256")
                theirs = run("bash", args.ngocdbt, "--strict", dest)
                if check(ours.returncode == 0 and theirs.returncode == 0, "ockpt / ngocdbt list %s" % dest):
                    mine = [(k["key"], k["size"], k["sha256"]) for k in json.loads(ours.stdout)["keys"]]
                    other = [(k["key"], k["size"], k["sha256"]) for k in json.loads(theirs.stdout)["keys"]]
                    check(mine == other, "ngocdbt and ockpt agree on the saved database")
                extracted = os.path.join(tmp, "extracted")
                p = run("bash", args.ngocdbt, "--extract", extracted, dest)
                if check(p.returncode == 0, "ngocdbt --extract"):
                    import zarr
                    z = zarr.open(os.path.join(extracted, "params.w"), mode="r")
                    check(np.array_equal(z[...], w), "python3-zarr on ngocdbt-extracted params.w")

    # A step of a manager root.
    root = os.path.join(tmp, "root")
    for step in ("4", "12"):
        p = run(save_exe, root, "--step", step)
        check(p.returncode == 0, "ockpt_save_arrays --step %s" % step)
    p = run(save_exe, root, "--step", "12", ok=False)
    check(p.returncode == 1 and b"ALREADY_EXISTS" in p.stderr, "saving an existing step is refused")
    p = run(root_exe, root)
    check(p.returncode == 0 and p.stdout.decode().startswith("step 12\n"), "ockpt_manager_root: latest step")
    p = run(root_exe, root, "4")
    check(p.returncode == 0 and p.stdout.decode().startswith("step 4\n")
          and "params.w float32 24 bytes, first row: 00 00 00 00 00 00 00 3f 00 00 80 3f" in p.stdout.decode(),
          "ockpt_manager_root ROOT 4: %s" % p.stdout.decode())
    p = run(args.ockpt, "ls-steps", root, "--json")
    check(p.returncode == 0 and json.loads(p.stdout)["latest_step"] == 12, "ockpt ls-steps of the saved root")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
check.exit()
