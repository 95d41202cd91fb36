#!/usr/bin/env python3
"""Multi-process save and convert under mpirun (ockpt built with OCKPT_MPI).

usage: mpi_test.py OCKPT MPIEXEC NGOCDBT_RUN_SH

* `mpirun -n 2` and `-n 4` save (zarr2 multi-chunk, one-chunk arrays with
  more processes than arrays, zarr3, per-leaf zarr) write ocdbt.process_<r>/
  for each process that had chunks, a merged root over them, and a
  checkpoint whose `metadata --json` equals a single-process save's and
  whose arrays restore bit-exact.
* neuroglancer's OCDBT reader lists the merged root with the keys, sizes and
  SHA-256 that ockpt lists, and python3-zarr reads the keys it extracts
  (skipped when ../shared is absent).
* convert of a .safetensors file to a checkpoint under mpirun; a file output
  under mpirun is refused (exit 2).
* `mpirun -n 2|4 restore CK OUT --mesh ...` writes OUT/shard_<d> for every
  device, each equal to `restore --shard d` run alone; a restore without a
  mesh, or with --shard, is refused; a failing process leaves no OUT.
* A process that fails (exit) or is killed (SIGKILL) mid-save, after writing
  its database and before the merge, leaves nothing committed: no final
  directory, `metadata` exit 3, `ls-steps` shows no committed step.
Prints `N passed, M failed`; exits 1 on any failure.
"""
from clitest import Checks
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ockpt, mpiexec, run_sh = sys.argv[1], sys.argv[2], sys.argv[3]
check = Checks()
have_ng = os.path.exists(run_sh)
if not have_ng:
    print("note: %s not found; the neuroglancer reader checks are left out" % run_sh)


def mpirun(n, *args, env=None):
    cmd = [mpiexec, "-n", str(n), "--oversubscribe"]
    if os.getuid() == 0:
        cmd.append("--allow-run-as-root")
    e = dict(os.environ)
    e.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")  # containers without ptrace
    e["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    if env:
        e.update(env)
    return subprocess.run(cmd + [ockpt, "--threads", "1", "--no-progress"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=300)


def run(*args):
    return subprocess.run([ockpt] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)


def metadata(path):
    p = run("metadata", path, "--json")
    if p.returncode != 0:
        return None
    m = json.loads(p.stdout)
    m.pop("path", None)
    ck = m.get("checkpoint_metadata") or {}
    for k in ("init_timestamp_nsecs", "commit_timestamp_nsecs"):
        ck.pop(k, None)
    return m


def process_dirs(dest):
    return sorted(d for d in os.listdir(dest) if d.startswith("ocdbt.process_"))


rng = np.random.default_rng(17)
arrays = {
    "params/dense/kernel": rng.standard_normal((96, 70)).astype(np.float32),
    "params/dense/bias": rng.standard_normal(70).astype(np.float64),
    "params/embed": rng.integers(-2**31, 2**31 - 1, size=(40, 7, 3), dtype=np.int32),
    "opt/count": np.array(12345, dtype=np.int64),
    "opt/mask": rng.integers(0, 2, size=(17,)).astype(bool),
    "big": rng.standard_normal((300, 100)).astype(np.float32),
}

with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    for name, a in arrays.items():
        path = os.path.join(src, name + ".npy")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, a)

    def restored_equal(dest, what):
        out = dest + "_restored"
        p = run("restore", dest, out)
        if not check(p.returncode == 0, "%s: restore: %s" % (what, p.stderr.decode()[:400])):
            return
        for name, a in arrays.items():
            b = np.load(os.path.join(out, name + ".npy"))
            check(b.dtype == a.dtype and b.shape == a.shape and a.tobytes() == b.tobytes(),
                  "%s: %s restores bit-exact" % (what, name))

    layouts = {
        "chunked": ["--chunk-bytes", "4096"],
        "onechunk": [],
        "zarr3": ["--zarr3", "--chunk-bytes", "8192"],
        "flat": ["--no-ocdbt", "--chunk-bytes", "4096"],
    }
    for layout, flags in layouts.items():
        single = os.path.join(tmp, layout + "_single")
        p = run("save", src, single, *flags)
        check(p.returncode == 0, "single-process save %s: %s" % (layout, p.stderr.decode()[:400]))
        want = metadata(single)
        for n in (2, 4):
            what = "%s -n %d" % (layout, n)
            dest = os.path.join(tmp, "%s_n%d" % (layout, n))
            p = mpirun(n, "save", src, dest, *flags)
            if not check(p.returncode == 0, "%s: mpirun save exited %d: %s" %
                         (what, p.returncode, p.stderr.decode()[-1500:])):
                continue
            check(not os.path.exists(dest + ".orbax-checkpoint-tmp"), "%s: no staging directory left" % what)
            got = metadata(dest)
            check(got is not None and got == want, "%s: metadata --json equals the single-process save's" % what)
            restored_equal(dest, what)
            d = run("diff", single, dest)
            check(d.returncode == 0, "%s: diff against the single-process save: %s" % (what, d.stdout.decode()[:300]))
            if "--no-ocdbt" in flags:
                check(process_dirs(dest) == [], "%s: no process databases" % what)
                continue
            dirs = process_dirs(dest)
            if layout == "onechunk":
                # 6 one-chunk arrays: every process gets at least one chunk
                # with 2 processes; with 4 the byte split may leave one idle.
                check("ocdbt.process_0" in dirs and len(dirs) >= 2, "%s: process databases %s" % (what, dirs))
            else:
                check(dirs == ["ocdbt.process_%d" % r for r in range(n)], "%s: process databases %s" % (what, dirs))
            for d_ in dirs:
                check(os.path.exists(os.path.join(dest, d_, "manifest.ocdbt")), "%s: %s/manifest.ocdbt" % (what, d_))
            # The root refers to every process database's data files.
            ls = run("ocdbt", "ls", dest, "--json")
            if check(ls.returncode == 0, "%s: ocdbt ls" % what):
                files = {k["file"].split("/d/")[0] for k in json.loads(ls.stdout)["keys"] if k.get("file")}
                if layout == "chunked":
                    check(files == set(dirs), "%s: root values live in %s" % (what, sorted(files)))
            # Each chunk key is in exactly one process database.
            keys = []
            for d_ in dirs:
                l2 = run("ocdbt", "ls", os.path.join(dest, d_), "--json")
                keys += [k["key"] for k in json.loads(l2.stdout)["keys"]]
            check(len(keys) == len(set(keys)), "%s: no key in two process databases" % what)
            if have_ng:
                ours = run("ocdbt", "ls", dest, "--json", "--sha256")
                theirs = subprocess.run(["bash", run_sh, "--versions", "--strict", dest],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if check(theirs.returncode == 0, "%s: ngocdbt: %s" % (what, theirs.stderr.decode()[:300])):
                    mine = [(k["key"], k["size"], k["sha256"]) for k in json.loads(ours.stdout)["keys"]]
                    other = [(k["key"], k["size"], k["sha256"]) for k in json.loads(theirs.stdout)["keys"]]
                    check(mine == other, "%s: ngocdbt and ockpt list the same root" % what)
                if layout in ("chunked", "onechunk"):
                    import zarr
                    extracted = dest + "_extracted"
                    p = subprocess.run(["bash", run_sh, "--extract", extracted, dest],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    if check(p.returncode == 0, "%s: ngocdbt --extract" % what):
                        for name, a in arrays.items():
                            z = zarr.open(os.path.join(extracted, name.replace("/", ".")), mode="r")
                            check(np.array_equal(z[...], a), "%s: python3-zarr reads extracted %s" % (what, name))

    # --- convert: a safetensors model to a checkpoint, split among 2 processes ---
    st = os.path.join(tmp, "model.safetensors")
    tensors = {"layer0.w": rng.standard_normal((128, 64)).astype(np.float32),
               "layer1.w": rng.standard_normal((64, 32)).astype(np.float32),
               "emb": rng.integers(0, 1000, size=(50, 8), dtype=np.int64)}
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = tensors[name]
        b = a.tobytes()
        header[name] = {"dtype": {"float32": "F32", "int64": "I64"}[str(a.dtype)], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    conv = os.path.join(tmp, "converted")
    p = mpirun(2, "convert", st, conv, "--chunk-bytes", "8192")
    if check(p.returncode == 0, "mpirun convert safetensors: %s" % p.stderr.decode()[-800:]):
        check(process_dirs(conv) == ["ocdbt.process_0", "ocdbt.process_1"], "convert: process databases")
        single = os.path.join(tmp, "converted_single")
        run("convert", st, single, "--chunk-bytes", "8192")
        check(metadata(conv) == metadata(single), "convert: metadata equals the single-process convert's")
        out = os.path.join(tmp, "converted_npy")
        r = run("restore", conv, out)
        if check(r.returncode == 0, "restore converted"):
            for name, a in tensors.items():
                path = os.path.join(out, name.replace(".", "/") + ".npy")  # dotted names nest
                if check(os.path.exists(path), "convert: %s restored" % name):
                    b = np.load(path)
                    check(a.tobytes() == b.tobytes() and a.shape == b.shape, "convert: %s bit-exact" % name)
    p = mpirun(2, "convert", os.path.join(tmp, "chunked_single"), os.path.join(tmp, "as_npz.npz"))
    check(p.returncode != 0 and b"only checkpoint outputs" in p.stderr, "file output under mpirun refused")
    check(not os.path.exists(os.path.join(tmp, "as_npz.npz")), "refused file output not written")

    # --- restore --mesh: process r writes shard r (and r + N, ...) ---
    def tree_files(root):
        out = {}
        for dirpath, _, names in os.walk(root):
            for n in names:
                path = os.path.join(dirpath, n)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
        return out

    ck = os.path.join(tmp, "chunked_single")
    for n, mesh, specs in ((2, "model=2", ["--spec", "opt.count=", "--spec", "*=model"]),
                           (4, "model=2", ["--spec", "opt.count=", "--spec", "*=model"]),
                           (2, "data=2,model=2", ["--spec", "opt.count=", "--spec", "params.dense.kernel=data,model",
                                                  "--spec", "params.embed=data+model", "--spec", "*=model"])):
        what = "restore -n %d --mesh %s" % (n, mesh)
        out = os.path.join(tmp, "shards_%d_%s" % (n, mesh.replace(",", "_").replace("=", "")))
        p = mpirun(n, "restore", ck, out, "--mesh", mesh, *specs)
        if not check(p.returncode == 0, "%s: exited %d: %s" % (what, p.returncode, p.stderr.decode()[-800:])):
            continue
        devices = 1
        for part in mesh.split(","):
            devices *= int(part.split("=")[1])
        check(sorted(os.listdir(out)) == ["shard_%d" % d for d in range(devices)],
              "%s: one directory per device: %s" % (what, sorted(os.listdir(out))))
        check(not [e for e in os.listdir(tmp) if e.startswith(os.path.basename(out) + ".")],
              "%s: no temporaries left" % what)
        for d in range(devices):
            alone = os.path.join(tmp, "alone_%d_%d_%s" % (n, d, mesh.replace(",", "_").replace("=", "")))
            r = run("restore", ck, alone, "--mesh", mesh, *specs, "--shard", str(d))
            if check(r.returncode == 0, "%s: --shard %d alone: %s" % (what, d, r.stderr.decode()[:300])):
                check(tree_files(os.path.join(out, "shard_%d" % d)) == tree_files(alone),
                      "%s: shard_%d equals --shard %d run alone" % (what, d, d))
    p = mpirun(2, "restore", ck, os.path.join(tmp, "whole"))
    check(p.returncode != 0 and not os.path.exists(os.path.join(tmp, "whole")), "restore without a mesh refused")
    p = mpirun(2, "restore", ck, os.path.join(tmp, "one"), "--mesh", "model=2", "--spec", "opt.count=",
               "--spec", "*=model", "--shard", "1")
    check(p.returncode != 0 and not os.path.exists(os.path.join(tmp, "one")), "restore --shard under mpirun refused")
    out = os.path.join(tmp, "shards_fail")
    p = mpirun(2, "restore", ck, out, "--mesh", "model=2", "--spec", "opt.count=", "--spec", "*=model",
               env={"OCKPT_TEST_PROCESS_FAULT": "1:2:fail"})
    check(p.returncode != 0 and not os.path.exists(out), "restore: a failing process leaves no output")
    check(not [e for e in os.listdir(tmp) if e.startswith("shards_fail.")], "restore: no temporaries after a failure")

    # --- a process fails or dies mid-save: nothing committed ---
    for mode in ("fail", "kill"):
        for step in (False, True):
            what = "rank 1 %s%s" % (mode, " (--step)" if step else "")
            root = os.path.join(tmp, "faulty_%s_%d" % (mode, step))
            args = ["save", src, root, "--chunk-bytes", "4096"] + (["--step", "3"] if step else [])
            # AllOk call 2 of rank 1: its process database is written, the merge not begun.
            p = mpirun(2, *args, env={"OCKPT_TEST_PROCESS_FAULT": "1:2:%s" % mode})
            check(p.returncode != 0, "%s: mpirun fails (%d)" % (what, p.returncode))
            final = os.path.join(root, "3") if step else root
            check(not os.path.exists(final), "%s: no directory under the final name" % what)
            m = run("metadata", root)
            check(m.returncode == 3, "%s: metadata exits 3 (got %d)" % (what, m.returncode))
            if mode == "fail":
                check(b"injected failure" in p.stderr, "%s: the failure is reported" % what)
                check(not os.path.exists(final + ".orbax-checkpoint-tmp"), "%s: staging removed" % what)
            if step:
                ls = run("ls-steps", root, "--json")
                if check(ls.returncode == 0, "%s: ls-steps" % what):
                    j = json.loads(ls.stdout)
                    check(j["latest_step"] is None and all(s["status"] != "committed" for s in j["steps"]),
                          "%s: ls-steps shows no committed step: %s" % (what, ls.stdout.decode()[:300]))
            # The same save runs through afterwards (leftovers do not block it).
            p = mpirun(2, *args)
            check(p.returncode == 0, "%s: a rerun succeeds: %s" % (what, p.stderr.decode()[-500:]))

check.exit()
