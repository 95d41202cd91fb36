#!/usr/bin/env python3
"""Builds the hostile-input regression corpus (issue 14; docs/design.md,
"Hostile input") into a scratch directory and lists, for each case, the
ockpt command to run and the exit code it must end with.

usage (library): cases(ockpt, golden, work) -> list of Case
usage (by hand):  make_hostile.py OCKPT GOLDEN WORKDIR   (builds and prints them)

Every input is derived at build time from small arrays saved by `ockpt save`
or from the golden checkpoints, so the corpus needs no binary files in git;
FIFOs and symbolic links can only be made here anyway.
"""
import json
import os
import shutil
import stat
import struct
import subprocess
import sys

import numpy as np

DEEP = 70000  # nesting levels that overflowed nlohmann's recursive parser


class Case:
    def __init__(self, name, argv, expect, check=None, env=None, preexec=None, timeout=30):
        self.name = name          # what the case is about
        self.argv = argv          # arguments after the ockpt binary
        self.expect = expect      # the exit code (an int) or a set of acceptable ones
        self.check = check        # optional f(proc, work) -> error text or None
        self.env = env
        self.preexec = preexec
        self.timeout = timeout


def deep_json():
    return "[" * DEEP + "]" * DEEP


def save(ockpt, src, dst, *flags):
    r = subprocess.run([ockpt, "--no-progress", "save", src, dst, *flags],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("save %s %s: %s" % (src, dst, r.stderr.decode(errors="replace")))


def npy_dir(path, names=(b"a", b"b")):
    os.makedirs(path, exist_ok=True)
    for i, n in enumerate(names):
        p = os.path.join(os.fsencode(path), n + b".npy")
        with open(p, "wb") as f:
            np.save(f, np.arange(4 + i, dtype=np.int32))
    return path


def no_tmp_left(out):
    def check(proc, work):
        parent = os.path.dirname(out) or "."
        left = [n for n in os.listdir(parent) if ".ockpt-tmp-" in n]
        return "left behind: %s" % left if left else None
    return check


def json_stdout(proc, work):
    try:
        json.loads(proc.stdout.decode("utf-8"))
    except Exception as e:  # noqa: BLE001
        return "stdout is not one UTF-8 JSON document: %s" % e
    return None


def stdout_has(data):
    def check(proc, work):
        return None if data in proc.stdout else "stdout lacks %r" % data
    return check


def stderr_has(text):
    def check(proc, work):
        return None if text in proc.stderr.decode(errors="replace") else "stderr lacks %r" % text
    return check


def all_of(*checks):
    def check(proc, work):
        for c in checks:
            e = c(proc, work)
            if e:
                return e
        return None
    return check


def no_fs_limit():
    import resource
    import signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


def cases(ockpt, golden, work, fixture=None):
    out = []
    w = lambda *p: os.path.join(work, *p)  # noqa: E731

    # 1. Deeply nested JSON: exit 4 naming the file, never a stack overflow.
    base = npy_dir(w("src"))
    ck = w("deep_ckmeta")
    save(ockpt, base, ck)
    with open(os.path.join(ck, "_CHECKPOINT_METADATA")) as f:
        md = json.load(f)
    md["custom_metadata"] = "@DEEP@"
    with open(os.path.join(ck, "_CHECKPOINT_METADATA"), "w") as f:
        f.write(json.dumps(md).replace('"@DEEP@"', deep_json()))
    out.append(Case("deep _CHECKPOINT_METADATA: metadata", ["metadata", ck], 4,
                    stderr_has("_CHECKPOINT_METADATA")))
    out.append(Case("deep _CHECKPOINT_METADATA: metadata --json", ["metadata", "--json", ck], 4))
    out.append(Case("deep _CHECKPOINT_METADATA: restore", ["restore", ck, w("deep_ckmeta.out")], 4))
    for zarr3 in (False, True):
        ck = w("deep_zarr%d" % (3 if zarr3 else 2))
        save(ockpt, base, ck, "--no-ocdbt", *(["--zarr3"] if zarr3 else []))
        meta = os.path.join(ck, "a", "zarr.json" if zarr3 else ".zarray")
        with open(meta, "w") as f:
            f.write('{"zarr_format": %s, "x": %s}' % (3 if zarr3 else 2, deep_json()))
        out.append(Case("deep %s: restore" % os.path.basename(meta),
                        ["restore", ck, ck + ".out"], 4))
        out.append(Case("deep %s: verify" % os.path.basename(meta), ["verify", ck], 1))
    src = npy_dir(w("deep_tree_src"))
    with open(os.path.join(src, "_tree.json"), "w") as f:
        f.write('{"leaves": %s}' % deep_json())
    out.append(Case("deep _tree.json: save", ["save", src, w("deep_tree.ck")], 4,
                    stderr_has("_tree.json")))
    st = w("deep.safetensors")
    header = ('{"__metadata__": {"x": "y"}, "a": %s}' % deep_json()).encode()
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
    out.append(Case("deep safetensors header: convert", ["convert", st, w("deep_st.ck")], 4))

    # 2. Names that are not valid UTF-8 or hold control characters.
    src = npy_dir(w("utf8_src"), names=(b"ok", b"bad\xb9"))
    out.append(Case("non-UTF-8 .npy name: save refuses it", ["save", src, w("utf8.ck")], 4,
                    stderr_has("UTF-8")))
    src = npy_dir(w("ctrl_src"), names=(b"ok", b"tab\tnl\nesc\x1b"))
    ck = w("ctrl_ck")
    save(ockpt, src, ck)
    out.append(Case("control characters: verify --json", ["verify", "--json", ck], 0, json_stdout))
    out.append(Case("control characters: metadata --json", ["metadata", "--json", ck], 0,
                    json_stdout))
    out.append(Case("control characters: restore", ["restore", ck, w("ctrl_out")], 0,
                    no_tmp_left(w("ctrl_out"))))

    def escaped_text(proc, work):
        text = proc.stdout
        if b"\x1b" in text or b"tab\t" in text:
            return "raw control characters in text output"
        if b"tab\\x09nl\\x0aesc\\x1b" not in text:
            return "the name is not escaped as \\xNN"
        return None
    out.append(Case("control characters: metadata text", ["metadata", ck], 0, escaped_text))
    other = w("ctrl_src2")
    shutil.copytree(src, other)
    with open(os.path.join(os.fsencode(other), b"tab\tnl\nesc\x1b.npy"), "wb") as f:
        np.save(f, np.arange(5, dtype=np.int32) + 1)
    out.append(Case("control characters: diff text", ["diff", src, other], 1, escaped_text))
    legacy = w("legacy_b9")
    shutil.copytree(os.path.join(golden, "orbax_legacy_aggregate", "aggregate_all.checkpoint"),
                    legacy)
    with open(os.path.join(legacy, "checkpoint"), "r+b") as f:
        data = f.read()
        at = data.index(b"\xa1a")  # the map key "a"
        f.seek(at + 1)
        f.write(b"\xb9")
    out.append(Case("legacy msgpack key 0xB9: metadata --json", ["metadata", "--json", legacy],
                    {0, 4}, json_stdout))
    # Without _METADATA the msgpack key is the leaf's name, which reaches
    # every output: base64 in JSON (as `ocdbt ls --json`), \xb9 in text.
    bare = w("legacy_b9_bare")
    shutil.copytree(legacy, bare)
    os.remove(os.path.join(bare, "_METADATA"))

    def b64_name(proc, work):
        e = json_stdout(proc, work)
        if e:
            return e
        return None if '"name_base64": "uQ=="' in proc.stdout.decode() else "no name_base64"
    out.append(Case("legacy msgpack name 0xB9: metadata --json", ["metadata", "--json", bare], 0,
                    b64_name))
    out.append(Case("legacy msgpack name 0xB9: metadata text", ["metadata", bare], 0,
                    stdout_has(b"\\xb9  ")))
    out.append(Case("legacy msgpack name 0xB9: verify --json", ["verify", "--json", bare], 0,
                    json_stdout))
    out.append(Case("legacy msgpack name 0xB9: restore", ["restore", bare, w("legacy_bare_out")],
                    0, no_tmp_left(w("legacy_bare_out"))))
    out.append(Case("legacy msgpack name 0xB9: save of the restored tree refuses it",
                    ["save", w("legacy_bare_out"), w("legacy_bare_resaved")], 4,
                    stderr_has("not valid UTF-8")))
    out.append(Case("legacy msgpack name 0xB9: restore to .safetensors",
                    ["restore", bare, w("legacy_bare.safetensors")], {0, 4},
                    no_tmp_left(w("legacy_bare.safetensors"))))
    out.append(Case("legacy msgpack key 0xB9: verify --json", ["verify", "--json", legacy],
                    {0, 1}, json_stdout))
    out.append(Case("legacy msgpack key 0xB9: restore", ["restore", legacy, w("legacy_out")],
                    {0, 4}, no_tmp_left(w("legacy_out"))))

    # OCDBT keys and data-file names that are not UTF-8 (issue 14, failure 2),
    # written by tests/formats/ocdbt/ocdbt_write_fixture --rekey when the
    # test has it: every output escapes them and stays one JSON document.
    if fixture:
        plain = w("ocdbt_b9_src")
        save(ockpt, npy_dir(w("ocdbt_b9_npy")), plain)
        for name, args in (("key", ["612f", "61b92f"]), ("key and data file", ["612f", "61b92f", "642fb9"])):
            ck = w("ocdbt_b9_" + name.replace(" ", "_"))
            shutil.copytree(plain, ck)
            for sub in ("manifest.ocdbt", "d", "ocdbt.process_0"):
                p = os.path.join(ck, sub)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
            r = subprocess.run([fixture, "--rekey", plain, ck, *args], stderr=subprocess.PIPE)
            if r.returncode != 0:
                raise RuntimeError("ocdbt_write_fixture --rekey: %s" % r.stderr.decode(errors="replace"))
            for cmd in (["verify", "--json", ck], ["ocdbt", "ls", "--json", ck],
                        ["metadata", "--json", ck]):
                out.append(Case("OCDBT %s 0xB9: %s" % (name, " ".join(cmd[:-1])), cmd, {0, 1, 4},
                                json_stdout))
            out.append(Case("OCDBT %s 0xB9: verify" % name, ["verify", ck], 1))
            out.append(Case("OCDBT %s 0xB9: restore" % name, ["restore", ck, ck + ".out"], 4,
                            no_tmp_left(ck + ".out")))
            out.append(Case("OCDBT %s 0xB9: convert npz" % name, ["convert", ck, ck + ".npz"], 4))

    # 3. One exit code whatever the output: bad zarr metadata -> 4 everywhere.
    ck = w("badzarr")
    save(ockpt, base, ck, "--no-ocdbt")
    with open(os.path.join(ck, "a", ".zarray")) as f:
        z = json.load(f)
    z["dtype"] = "<bogus"
    with open(os.path.join(ck, "a", ".zarray"), "w") as f:
        json.dump(z, f)
    for fmt in ("npy", "npz", "h5", "safetensors"):
        dst = w("badzarr_out." + fmt) if fmt != "npy" else w("badzarr_out")
        out.append(Case("bad .zarray: restore --format %s" % fmt,
                        ["restore", ck, dst, "--format", fmt], 4))
        out.append(Case("bad .zarray: convert to %s" % fmt,
                        ["convert", ck, w("badzarr_conv." + fmt), "--format", fmt], 4))
    ck = w("dotdot")
    save(ockpt, base, ck, "--no-ocdbt")
    with open(os.path.join(ck, "_METADATA")) as f:
        text = f.read()
    with open(os.path.join(ck, "_METADATA"), "w") as f:
        f.write(text.replace('"key": "a"', '"key": ".."'))
    out.append(Case("leaf key '..': restore", ["restore", ck, w("dotdot_out")], 4))

    # 4. FIFOs in place of files: exit 4 at once, never blocking in open().
    ck = w("fifo_manifest")
    save(ockpt, base, ck)
    os.remove(os.path.join(ck, "manifest.ocdbt"))
    os.mkfifo(os.path.join(ck, "manifest.ocdbt"))
    out.append(Case("FIFO manifest.ocdbt: metadata", ["metadata", ck], 4, timeout=15))
    out.append(Case("FIFO manifest.ocdbt: restore", ["restore", ck, w("fifo_out")], 4, timeout=15))
    out.append(Case("FIFO manifest.ocdbt: verify", ["verify", ck], 1, timeout=15))
    ck = w("fifo_ckmeta")
    save(ockpt, base, ck)
    os.remove(os.path.join(ck, "_CHECKPOINT_METADATA"))
    os.mkfifo(os.path.join(ck, "_CHECKPOINT_METADATA"))
    out.append(Case("FIFO _CHECKPOINT_METADATA: metadata", ["metadata", ck], {0, 4}, timeout=15))
    ck = w("fifo_chunk")
    save(ockpt, base, ck, "--no-ocdbt")
    os.remove(os.path.join(ck, "a", "0"))
    os.mkfifo(os.path.join(ck, "a", "0"))
    out.append(Case("FIFO chunk file: restore", ["restore", ck, w("fifo_chunk_out")], 4, timeout=15))
    os.mkfifo(w("fifo.npz"))
    out.append(Case("FIFO .npz source: convert", ["convert", w("fifo.npz"), w("fifo_npz.ck")], 4,
                    timeout=15))
    os.mkfifo(w("fifo.h5"))
    out.append(Case("FIFO .h5 source: convert", ["convert", w("fifo.h5"), w("fifo_h5.ck")], 4,
                    timeout=15))

    # 5. Symbolic links: loops are skipped (with a warning), links out of a
    # checkpoint are refused unless --allow-external-links.
    src = npy_dir(w("loop_src"))
    os.symlink(".", os.path.join(src, "loop1"))
    os.symlink(".", os.path.join(src, "loop2"))
    out.append(Case("npy dir with two '-> .' links: save", ["save", src, w("loop.ck")], 0,
                    stderr_has("skipped"), timeout=20))
    out.append(Case("npy dir with two '-> .' links: diff", ["diff", src, base], 0, timeout=20))
    ck = w("extlink")
    save(ockpt, base, ck, "--no-ocdbt")
    os.rename(os.path.join(ck, "a", "0"), w("outside_chunk"))
    os.symlink(w("outside_chunk"), os.path.join(ck, "a", "0"))
    out.append(Case("chunk linked outside the checkpoint: restore",
                    ["restore", ck, w("extlink_out")], 4, stderr_has("--allow-external-links")))
    out.append(Case("chunk linked outside, --allow-external-links: restore",
                    ["--allow-external-links", "restore", ck, w("extlink_out2")], 0))
    ck = w("extmanifest")
    save(ockpt, base, ck)
    os.rename(os.path.join(ck, "manifest.ocdbt"), w("outside_manifest"))
    os.symlink(w("outside_manifest"), os.path.join(ck, "manifest.ocdbt"))
    out.append(Case("manifest.ocdbt linked outside the checkpoint: metadata", ["metadata", ck], 4))
    out.append(Case("manifest.ocdbt linked outside, --allow-external-links: metadata",
                    ["--allow-external-links", "metadata", ck], 0))
    # The checkpoint's own metadata files follow the same rule.
    ck = w("extmeta")
    save(ockpt, base, ck)
    os.rename(os.path.join(ck, "_METADATA"), w("outside_METADATA"))
    os.symlink(w("outside_METADATA"), os.path.join(ck, "_METADATA"))
    out.append(Case("_METADATA linked outside the checkpoint: metadata", ["metadata", ck], 4,
                    stderr_has("--allow-external-links")))
    out.append(Case("_METADATA linked outside, --allow-external-links: metadata",
                    ["--allow-external-links", "metadata", ck], 0))
    ck = w("extckmeta")
    save(ockpt, base, ck)
    os.rename(os.path.join(ck, "_CHECKPOINT_METADATA"), w("outside_ckmeta"))
    os.symlink(w("outside_ckmeta"), os.path.join(ck, "_CHECKPOINT_METADATA"))
    out.append(Case("_CHECKPOINT_METADATA linked outside the checkpoint: metadata",
                    ["metadata", ck], {0, 4}, stderr_has("symbolic link")))
    inner = w("inlink")
    save(ockpt, base, inner, "--no-ocdbt")
    os.rename(os.path.join(inner, "a"), os.path.join(inner, "a_real"))
    os.symlink("a_real", os.path.join(inner, "a"))
    out.append(Case("leaf directory linked inside the checkpoint: restore",
                    ["restore", inner, w("inlink_out")], 0))

    # 6. HDF5: a full disk (EFBIG) is exit 6 with the message, never SIGSEGV.
    big = w("big_src")
    os.makedirs(big)
    np.save(os.path.join(big, "x.npy"), np.zeros(1 << 18, dtype=np.float32))
    save(ockpt, big, w("big.ck"))
    out.append(Case("EFBIG writing .h5: convert", ["convert", w("big.ck"), w("big.h5")], 6,
                    preexec=no_fs_limit))
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is not None:
        # A variable-length string attribute whose global-heap object claims
        # 2 GiB: libhdf5 crashes reading it; ockpt reads it in a child.
        good = w("vlen.h5")
        with h5py.File(good, "w") as f:
            d = f.create_dataset("a", data=np.arange(4, dtype=np.int32))
            d.attrs["ockpt_value_type"] = "np.ndarray"
        data = bytearray(open(good, "rb").read())
        g = data.index(b"GCOL")
        struct.pack_into("<Q", data, g + 16 + 8, 0x7FFFFFFF)  # first object's size
        with open(w("vlen_bad.h5"), "wb") as f:
            f.write(data)
        out.append(Case("vlen attribute in a hostile global heap: convert",
                        ["convert", w("vlen_bad.h5"), w("vlen_bad.ck")], 4, timeout=30))
        out.append(Case("intact vlen attribute: convert",
                        ["convert", good, w("vlen_good.ck")], 0))
        # 400 MB chunks declared in a 1.4 KB file.
        with h5py.File(w("chunks.h5"), "w") as f:
            f.create_dataset("a", shape=(4,), maxshape=(None,), chunks=(100_000_000,),
                             dtype=np.float32)
        out.append(Case("chunks far larger than the file: convert",
                        ["convert", w("chunks.h5"), w("chunks.ck")], 4, stderr_has("chunks of")))

    # 7. Damaged Orbax side files: verify reports them (1), metadata warns.
    for name, rel in (("_sharding", "_sharding"),
                      ("array_metadatas", os.path.join("array_metadatas", "process_0"))):
        src = w("side_src_" + name)
        os.makedirs(src)
        np.save(os.path.join(src, "a.npy"), np.arange(3, dtype=np.int32))
        with open(os.path.join(src, "_tree.json"), "w") as f:
            json.dump({"leaves": [{"keypath": [{"key": "a", "type": "dict"}], "name": "a",
                                   "value_type": "jax.Array", "dtype": "int32"}]}, f)
        ck = w("side_" + name)
        save(ockpt, src, ck)
        path = os.path.join(ck, rel)
        if not os.path.exists(path):
            raise RuntimeError("save wrote no %s" % path)
        with open(path, "r+b") as f:
            f.truncate(max(1, os.path.getsize(path) // 2))
        out.append(Case("truncated %s: verify" % rel, ["verify", ck], 1, stderr_or_out(rel)))
        out.append(Case("truncated %s: metadata warns" % rel, ["metadata", ck], 0,
                        stderr_has(os.path.basename(rel))))
    return out


def stderr_or_out(text):
    def check(proc, work):
        both = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        return None if text in both else "output lacks %r" % text
    return check


if __name__ == "__main__":
    for c in cases(sys.argv[1], sys.argv[2], sys.argv[3]):
        print(c.expect, "ockpt", " ".join(c.argv), "#", c.name)
