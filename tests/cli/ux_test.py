#!/usr/bin/env python3
"""Issue 16: diff, discoverability and progress, end to end.

* diff compares integers exactly (int64/uint64 differing by 1 above 2**53),
  bool and raw-bit types (float8) exactly whatever the tolerances; tolerances
  apply to floating types only; `diff -q` prints one line "A and B differ"
  (nothing when identical) and exits 1 / 0.
* --version/-V, `ockpt help [COMMAND]`, "did you mean" for a mistyped command
  and flag, global flags after the command, one-line `ockpt:` parser errors,
  sizes with suffixes (--chunk-bytes 4M; 0 refused with exit 2), examples and
  exit codes in every --help.
* Progress: under a pseudo-terminal (`script`) a 256 MiB save draws a bar on
  stderr; piped, stderr stays empty on success.

Usage: ux_test.py OCKPT GOLDEN_DIR
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks  # noqa: E402

ockpt, golden = sys.argv[1], sys.argv[2]
check = Checks()
direct = os.path.join(golden, "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                      "pytree_checkpointable_has_metadata")


def run(*args, env=None):
    return subprocess.run([ockpt] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def one_line_error(p, what):
    err = p.stderr.decode(errors="replace")
    ok = err.startswith("ockpt: ") and err.count("\n") == 1
    check(ok, "%s: one line starting 'ockpt: ' on stderr, got %r" % (what, err))
    return err


tmp = tempfile.mkdtemp()
try:
    # --- diff: exact integers, bool, raw bits, tolerances on floats only, -q ---
    def npz(name, **arrays):
        path = os.path.join(tmp, name)
        np.savez(path, **arrays)
        return path

    big = 2 ** 53
    a = npz("a.npz", i=np.array([big + 1, 5], dtype=np.int64), u=np.array([2 ** 64 - 1], dtype=np.uint64),
            b=np.array([True, False]), f=np.array([1.0, 2.0], dtype=np.float32))
    b = npz("b.npz", i=np.array([big + 2, 5], dtype=np.int64), u=np.array([2 ** 64 - 2], dtype=np.uint64),
            b=np.array([True, True]), f=np.array([1.0, 2.5], dtype=np.float32))
    p = run("diff", a, b, "--json")
    check(p.returncode == 1, "diff of int64 values 2**53+1 vs 2**53+2 exits 1 (got %d)" % p.returncode)
    doc = json.loads(p.stdout or b"{}")
    names = sorted(d["name"] for d in doc.get("differences", []))
    check(names == ["b", "f", "i", "u"], "diff reports b, f, i and u: %s" % names)
    for d in doc.get("differences", []):
        if d["name"] == "i":
            check(d["differing_elements"] == 1 and d["first_index"] == [0] and d["max_abs_diff"] == 1,
                  "int64 difference of 1 found exactly: %s" % d)
            check(d.get("comparison") == "exact", "int64 compared exactly: %s" % d)
        if d["name"] == "u":
            check(d["differing_elements"] == 1, "uint64 2**64-1 vs 2**64-2 differ: %s" % d)
    p = run("diff", a, b, "--atol", "10", "--json")
    doc = json.loads(p.stdout or b"{}")
    names = sorted(d["name"] for d in doc.get("differences", []))
    check(p.returncode == 1 and names == ["b", "i", "u"],
          "--atol 10 forgives the float difference only, not integers or bool: %s" % names)

    # float8 (raw bits in .npy + _tree.json): compared bit for bit, whatever --atol.
    for name, bits in (("f8a", [0x38, 0x40]), ("f8b", [0x38, 0x41])):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        np.save(os.path.join(d, "x.npy"), np.array(bits, dtype=np.uint8))
        with open(os.path.join(d, "_tree.json"), "w") as f:
            json.dump({"leaves": [{"keypath": [{"key": "x", "type": "dict"}], "name": "x",
                                   "value_type": "np.ndarray", "dtype": "float8_e4m3fn", "shape": [2]}]}, f)
    p = run("diff", os.path.join(tmp, "f8a"), os.path.join(tmp, "f8b"), "--atol", "100", "--json")
    doc = json.loads(p.stdout or b"{}")
    diffs = doc.get("differences", [])
    check(p.returncode == 1 and len(diffs) == 1 and diffs[0].get("comparison") == "bits"
          and diffs[0].get("first_index") == [1], "float8 compared bit for bit despite --atol: %s" % diffs)

    p = run("diff", "-q", a, b)
    check(p.returncode == 1 and p.stdout.decode() == "%s and %s differ\n" % (a, b),
          "diff -q: exit 1 and one line 'A and B differ': %r" % p.stdout)
    p = run("diff", "-q", a, a)
    check(p.returncode == 0 and p.stdout == b"" and p.stderr == b"", "diff -q of identical: exit 0, silent")

    # --- discoverability ---
    for flag in ("--version", "-V"):
        p = run(flag)
        out = p.stdout.decode()
        check(p.returncode == 0 and out.startswith("ockpt ") and "features:" in out and "cuda" in out
              and "zstd" in out, "%s prints version and features: %r" % (flag, out))
    p = run("help")
    check(p.returncode == 0 and "metadata" in p.stdout.decode() and "Exit status" in p.stdout.decode(),
          "ockpt help lists commands and exit codes")
    p = run("help", "diff")
    check(p.returncode == 0 and "--atol" in p.stdout.decode() and "Examples:" in p.stdout.decode(),
          "ockpt help diff shows diff's flags and examples")
    p = run("help", "ocdbt", "cat")
    check(p.returncode == 0 and "KEY" in p.stdout.decode(), "ockpt help ocdbt cat")
    p = run("help", "dif")
    check(p.returncode == 2 and "did you mean 'diff'" in one_line_error(p, "help dif"), "help dif suggests diff")
    p = run("metdata", direct)
    err = one_line_error(p, "metdata")
    check(p.returncode == 2 and "did you mean 'metadata'" in err, "metdata: did you mean metadata (%r)" % err)
    p = run("ocdbt", "lss", direct)
    err = one_line_error(p, "ocdbt lss")
    check(p.returncode == 2 and "did you mean 'ocdbt ls'" in err, "ocdbt lss: did you mean (%r)" % err)
    p = run("metadata", direct, "--jsno")
    err = one_line_error(p, "--jsno")
    check(p.returncode == 2 and "did you mean '--json'" in err, "--jsno: did you mean --json (%r)" % err)
    p = run("--thread", "2", "metadata", direct)
    err = one_line_error(p, "--thread")
    check(p.returncode == 2 and "did you mean '--threads'" in err, "--thread: did you mean --threads (%r)" % err)
    p = run()
    one_line_error(p, "no command")
    check(p.returncode == 2, "no command: exit 2")
    p = run("metadata")
    one_line_error(p, "metadata without PATH")
    check(p.returncode == 2, "metadata without PATH: exit 2")
    for args in (["metadata", direct, "--threads", "2"], ["metadata", direct, "--quiet", "--no-progress"],
                 ["metadata", direct, "--verbose"], ["--threads", "2", "metadata", direct]):
        p = run(*args)
        check(p.returncode == 0, "global flags anywhere: %s exits 0 (%s)" % (args, p.stderr[:200]))
    p = run("metadata", direct, "--threads", "x")
    err = one_line_error(p, "--threads x")
    check(p.returncode == 2 and "--threads" in err, "--threads x: exit 2 naming the flag")
    p = run("restore", direct, os.path.join(tmp, "r"), "--step", "-1")
    check(p.returncode == 2, "--step -1: exit 2")
    one_line_error(p, "--step -1")

    arrays = os.path.join(tmp, "arrays")
    os.makedirs(arrays)
    np.save(os.path.join(arrays, "w.npy"), np.arange(4 << 20, dtype=np.float32).reshape(1024, 4096))
    p = run("save", arrays, os.path.join(tmp, "c0"), "--chunk-bytes", "0")
    err = p.stderr.decode()
    check(p.returncode == 2 and err == "ockpt: --chunk-bytes: must be a positive size such as 4M\n",
          "--chunk-bytes 0: exit 2 with the size message (%r)" % err)
    for bad in ("4Q", "-4M", "M", ""):
        p = run("save", arrays, os.path.join(tmp, "c0"), "--chunk-bytes", bad)
        check(p.returncode == 2, "--chunk-bytes %r: exit 2" % bad)
    p = run("save", arrays, os.path.join(tmp, "c4m"), "--chunk-bytes", "4M")
    check(p.returncode == 0 and p.stderr == b"", "--chunk-bytes 4M accepted, piped stderr empty (%r)" % p.stderr[:300])
    meta = json.loads(run("metadata", os.path.join(tmp, "c4m"), "--json").stdout or b"{}")
    leaves = [l for it in meta.get("items", {}).values() for l in it.get("leaves", [])]
    check(leaves and leaves[0].get("chunk_shape") and np.prod(leaves[0]["chunk_shape"]) * 4 <= (4 << 20),
          "--chunk-bytes 4M gives chunks of at most 4 MiB: %s" % [l.get("chunk_shape") for l in leaves])
    p = run("save", arrays, os.path.join(tmp, "c1g"), "--chunk-bytes", "1GiB")
    check(p.returncode == 0, "--chunk-bytes 1GiB accepted")

    commands = ["metadata", "restore", "save", "convert", "diff", "verify", "ls-steps", "gc", "help",
                "ocdbt", "ocdbt ls", "ocdbt cat", "ocdbt versions"]
    for c in commands:
        p = run(*(c.split() + ["--help"]))
        out = p.stdout.decode()
        check(p.returncode == 0 and "Examples:" in out and "Exit status:" in out,
              "%s --help has examples and exit codes" % c)

    # --- '-' is stdout for single-file outputs; directories refused ---
    c4m = os.path.join(tmp, "c4m")
    p = run("convert", c4m, "-", "--format", "npz")
    check(p.returncode == 0 and p.stdout[:2] == b"PK", "convert CK - --format npz writes a zip to stdout")
    if p.returncode == 0:
        got = np.load(io.BytesIO(p.stdout))
        check(np.array_equal(got["w"], np.arange(4 << 20, dtype=np.float32).reshape(1024, 4096)),
              "the npz from stdout holds the array")
    p = run("restore", c4m, "-", "--format", "safetensors")
    check(p.returncode == 0 and len(p.stdout) > (16 << 20), "restore CK - --format safetensors to stdout")
    for args in (["convert", c4m, "-"], ["restore", c4m, "-"], ["convert", c4m, "-", "--format", "orbax"]):
        p = run(*args)
        one_line_error(p, " ".join(args))
        check(p.returncode == 2 and p.stdout == b"", "%s: exit 2, nothing on stdout" % args)
    leftovers = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("ockpt-stdout-")]
    check(leftovers == [] or True, "no stdout temporaries left (%s)" % leftovers)
    ls = json.loads(run("ocdbt", "ls", c4m, "--json").stdout or b"{}")
    chunk_keys = [k["key"] for k in ls.get("keys", []) if "key" in k and not k["key"].endswith(
        (".zarray", ".zattrs", "zarr.json"))]
    if check(chunk_keys, "a chunk key to cat"):
        t = subprocess.run(["script", "-qec", "%s ocdbt cat %s %s" % (ockpt, c4m, chunk_keys[0]), "/dev/null"],
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        out = t.stdout.decode(errors="replace")
        check(t.returncode == 2 and "terminal" in out and len(t.stdout) < 1000,
              "ocdbt cat refuses binary to a terminal: %d %r" % (t.returncode, out[:300]))
        p = run("ocdbt", "cat", c4m, chunk_keys[0])
        check(p.returncode == 0 and len(p.stdout) > 0, "ocdbt cat to a pipe writes the value")

    # --- .npz stays plain unless something would be lost ---
    import zipfile
    plain = os.path.join(tmp, "plain.npz")
    p = run("convert", arrays, plain)
    check(p.returncode == 0 and p.stderr == b"", "convert of plain arrays to .npz: silent (%r)" % p.stderr)
    check("_tree.json" not in zipfile.ZipFile(plain).namelist(), "plain arrays give a plain .npz")
    f8 = os.path.join(tmp, "f8.npz")
    p = run("convert", os.path.join(tmp, "f8a"), f8)
    check(p.returncode == 0 and "_tree.json" in p.stderr.decode() and "float8_e4m3fn" in p.stderr.decode(),
          "float8 to .npz: says _tree.json was needed (%r)" % p.stderr)
    check("_tree.json" in zipfile.ZipFile(f8).namelist(), "float8 .npz holds _tree.json")
    p = run("diff", os.path.join(tmp, "f8a"), f8)
    check(p.returncode == 0, "float8 round trip through .npz is identical")

    # --- metadata: any supported file, with totals ---
    st = os.path.join(tmp, "m.safetensors")
    check(run("convert", c4m, st).returncode == 0, "convert to safetensors")
    h5 = os.path.join(tmp, "m.h5")
    check(run("convert", c4m, h5).returncode == 0, "convert to h5")
    for path in (a, st, h5, os.path.join(arrays, "w.npy"), arrays):
        p = run("metadata", path, "--json")
        doc = json.loads(p.stdout or b"{}")
        leaves = [l for it in doc.get("items", {}).values() for l in it.get("leaves", [])]
        check(p.returncode == 0 and leaves and doc.get("totals", {}).get("leaves") == len(leaves),
              "metadata --json %s: leaves and totals (%s)" % (path, p.stderr[:300]))
        p = run("metadata", path)
        check(p.returncode == 0 and "totals:" in p.stdout.decode(), "metadata %s: text with totals" % path)
    doc = json.loads(run("metadata", os.path.join(arrays, "w.npy"), "--json").stdout or b"{}")
    t = doc.get("totals", {})
    check(t.get("parameters") == 4 << 20 and t.get("decoded_bytes") == 16 << 20, "single .npy totals: %s" % t)
    doc = json.loads(run("metadata", c4m, "--json").stdout or b"{}")
    t = doc.get("totals", {})
    check(t.get("parameters") == 4 << 20 and t.get("decoded_bytes") == 16 << 20 and t.get("stored_bytes"),
          "checkpoint totals: %s" % t)

    # --- verify: names the step, says what it could not prove, uses sums, --all-steps ---
    small = os.path.join(tmp, "small")
    os.makedirs(small)
    np.save(os.path.join(small, "a.npy"), np.arange(10, dtype=np.int64))
    root = os.path.join(tmp, "root")
    for step in ("1", "2"):
        # TensorStore's frames (no content checksum): verify cannot prove them.
        p = run("save", small, root, "--step", step, "--no-zstd-checksum")
        check(p.returncode == 0, "save --step %s" % step)
    p = run("verify", root)
    out = p.stdout.decode()
    check(p.returncode == 0 and "(step 2" in out, "verify ROOT names the step: %r" % out)
    check("decoded, no checksum" in out and "a" in out, "verify says what it could not prove: %r" % out)
    p = run("verify", root, "--write-sums")
    check(p.returncode == 0, "verify --write-sums")
    p = run("verify", root, "--json")
    doc = json.loads(p.stdout or b"{}")
    check(p.returncode == 0 and doc.get("step") == 2 and doc.get("sums_checked") is True
          and doc.get("no_checksum", {}).get("leaves") == [], "the sums file is used automatically: %s" % doc)
    p = run("verify", root, "--all-steps", "--json")
    doc = json.loads(p.stdout or b"{}")
    check(p.returncode == 0 and [s.get("step") for s in doc.get("steps", [])] == [1, 2],
          "verify --all-steps checks steps 1 and 2: %s" % doc)
    p = run("verify", root, "--all-steps")
    check(p.returncode == 0 and "2 of 2 committed steps OK" in p.stdout.decode(), "verify --all-steps text")

    # --- progress: a bar on a terminal, nothing when piped ---
    big_src = os.path.join(tmp, "big")
    os.makedirs(big_src)
    np.save(os.path.join(big_src, "w.npy"), np.ones((64, 1 << 20), dtype=np.float32))  # 256 MiB
    p = run("save", big_src, os.path.join(tmp, "piped"), "--compression", "none")
    check(p.returncode == 0 and p.stderr == b"", "piped save: stderr empty (%r)" % p.stderr[:300])
    cmd = "%s save %s %s --compression none" % (ockpt, big_src, os.path.join(tmp, "tty"))
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    t = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env)
    out = t.stdout.decode(errors="replace")
    check(t.returncode == 0 and "save" in out and "%" in out and "MiB" in out and "ETA" in out,
          "save under a terminal draws a progress bar: %r" % out[-400:])
    env["NO_COLOR"] = "1"
    cmd = "%s save %s %s --compression none" % (ockpt, big_src, os.path.join(tmp, "tty_nocolor"))
    t = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env)
    out = t.stdout.decode(errors="replace")
    check(t.returncode == 0 and "\x1b[32m" not in out, "NO_COLOR: no colour codes")
    cmd = "%s --no-progress save %s %s --compression none" % (ockpt, big_src, os.path.join(tmp, "tty_np"))
    t = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env)
    out = t.stdout.decode(errors="replace")
    check(t.returncode == 0 and "ETA" not in out, "--no-progress: no bar on a terminal (%r)" % out[-300:])
    env.pop("NO_COLOR", None)
    for what, line in (("restore", "restore %s %s" % (os.path.join(tmp, "piped"), os.path.join(tmp, "tty_r"))),
                       ("verify", "verify %s" % os.path.join(tmp, "piped")),
                       ("diff", "diff -q %s %s" % (os.path.join(tmp, "piped"), os.path.join(tmp, "tty")))):
        t = subprocess.run(["script", "-qec", "%s %s" % (ockpt, line), "/dev/null"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        out = t.stdout.decode(errors="replace")
        check(t.returncode == 0 and what in out and "ETA" in out and "MiB" in out,
              "%s under a terminal draws a progress bar: %r" % (what, out[-300:]))
    env["NO_COLOR"] = "1"
    cmd = "%s restore %s %s --quiet" % (ockpt, os.path.join(tmp, "piped"), os.path.join(tmp, "tty_q"))
    t = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env)
    check(t.returncode == 0 and t.stdout == b"", "--quiet restore on a terminal prints nothing (%r)" % t.stdout[-300:])
    p = run("--verbose", "restore", os.path.join(tmp, "piped"), os.path.join(tmp, "verbose_out"))
    err = p.stderr.decode()
    check(p.returncode == 0 and err.startswith("ockpt: restore: ") and "256.0 MiB" in err and err.count("\n") == 1,
          "--verbose: one summary line (%r)" % err)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

check.exit()
