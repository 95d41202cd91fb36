#!/usr/bin/env python3
"""Mutation campaign (issue 14; docs/design.md, "Hostile input"): copies real
checkpoints, damages them in the ways files get damaged or forged, and runs
every reading command on the result. A case fails when ockpt

  * dies of a signal (a crash) or does not exit within --timeout (a hang),
  * prints a sanitizer report (an ASan/UBSan build: scripts/fuzz.sh's
    build-fuzz/apps/ockpt/ockpt),
  * exits with a code outside the contract's 0..6, or fails silently
    (non-zero exit, nothing on stderr),
  * writes anywhere but its OUT (the source copy, its scratch directory and
    TMPDIR are compared before and after),
  * or, with --rss-limit, peaks above that many MiB (for normal builds: ASan
    shadow memory inflates RSS).

usage: mutate_campaign.py [--ockpt PATH] [--cases N] [--seed S] [--jobs J]
                          [--timeout SECONDS] [--rss-limit MIB] [--keep DIR]
                          [GOLDEN_DIR ...]
GOLDEN_DIR defaults to tests/data/golden and tests/data/flax. Failing cases
are kept under --keep (default: a temporary directory, printed) with a
`repro.sh`. Exits 1 when any case failed.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

COMMANDS = [
    ("metadata", lambda s, o: ["metadata", s]),
    ("metadata --json", lambda s, o: ["metadata", "--json", s]),
    ("restore", lambda s, o: ["restore", s, o]),
    ("restore --select", lambda s, o: ["restore", s, o, "--select", "*a*"]),
    ("verify", lambda s, o: ["verify", s]),
    ("verify --json", lambda s, o: ["verify", "--json", s]),
    ("ls-steps", lambda s, o: ["ls-steps", s]),
    ("ls-steps --json", lambda s, o: ["ls-steps", "--json", s]),
    ("diff", lambda s, o: ["diff", s, s + ".orig"]),
    ("convert npz", lambda s, o: ["convert", s, o + ".npz"]),
    ("convert h5", lambda s, o: ["convert", s, o + ".h5"]),
    ("convert safetensors", lambda s, o: ["convert", s, o + ".safetensors"]),
    ("convert checkpoint", lambda s, o: ["convert", s, o, "--format", "orbax"]),
    ("ocdbt ls", lambda s, o: ["ocdbt", "ls", s]),
    ("ocdbt ls --json", lambda s, o: ["ocdbt", "ls", "--json", s]),
]

HOSTILE_VALUES = [-1, 0, 2 ** 31, 2 ** 63 - 1, 2 ** 64, -2 ** 63, 1e308, float("nan"), "",
                  "x" * 5000, "../../etc/passwd", "\u00e9\udcff", None, True, [], {},
                  [[[[[[[[]]]]]]]], [2 ** 40, 2 ** 40], [0], [-5, 3], "float32", "<f8",
                  "bfloat16", "zstd", {"name": "bogus"}, "\x00\x01\x1b[31m"]


def find_targets(roots):
    """Directories and files that commands accept as a PATH."""
    targets = []
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            if "_expected" in dirpath.split(os.sep):
                continue
            marks = {"_CHECKPOINT_METADATA", "_METADATA", "manifest.ocdbt", "checkpoint",
                     ".zarray", "zarr.json"}
            if marks & set(files) or any(d.isdigit() or d.startswith("checkpoint_") for d in dirs):
                targets.append(dirpath)
            for f in files:
                if f.endswith((".msgpack", ".npz", ".h5", ".safetensors")) or f == "checkpoint" \
                        or f.startswith("checkpoint_"):
                    targets.append(os.path.join(dirpath, f))
    return sorted(set(targets))


def files_under(path):
    """The regular files at or under path (not links, FIFOs or directories
    that earlier mutations left: writing into a FIFO would block)."""
    def regular(p):
        return stat.S_ISREG(os.lstat(p).st_mode)
    if not os.path.isdir(path) or os.path.islink(path):
        return [path] if os.path.lexists(path) and regular(path) else []
    out = []
    for dirpath, _, files in os.walk(path):
        out.extend(p for p in (os.path.join(dirpath, f) for f in files) if regular(p))
    return sorted(out)


def json_mutate(rng, doc):
    """Replaces one node (or a key) of a JSON document with a hostile one."""
    nodes = []

    def walk(parent, key, v):
        nodes.append((parent, key))
        if isinstance(v, dict):
            for k in list(v):
                walk(v, k, v[k])
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(v, i, x)

    walk(None, None, doc)
    parent, key = rng.choice(nodes)
    value = rng.choice(HOSTILE_VALUES)
    if parent is None:
        return value
    if isinstance(parent, dict) and rng.random() < 0.2:
        parent[str(key) + rng.choice(["x", "\u00ff", ""])] = parent.pop(key)
    elif isinstance(parent, dict) and rng.random() < 0.1:
        del parent[key]
    else:
        parent[key] = value
    return doc


def mutate(rng, src, outside):
    """Applies one mutation to the tree (or file) at src; returns its name."""
    files = files_under(src)
    if not files:
        return "none"
    f = rng.choice(files)
    size = os.path.getsize(f)
    kind = rng.choice(["flip", "flip", "flip", "truncate", "zero", "append", "json", "json",
                       "json", "delete", "empty", "symlink", "fifo", "dir", "huge-length"])
    if kind == "json":
        try:
            with open(f, "rb") as fh:
                doc = json.loads(fh.read())
        except (ValueError, UnicodeDecodeError):
            kind = "flip"
        else:
            doc = json_mutate(rng, doc)
            with open(f, "w", encoding="utf-8", errors="surrogatepass") as fh:
                fh.write(json.dumps(doc, allow_nan=True))
            return "json:" + os.path.basename(f)
    if kind in ("flip", "huge-length") and size == 0:
        kind = "append"
    if kind == "flip":
        with open(f, "r+b") as fh:
            for _ in range(rng.choice([1, 1, 2, 8])):
                pos = rng.randrange(size)
                fh.seek(pos)
                b = fh.read(1)[0]
                fh.seek(pos)
                fh.write(bytes([b ^ (1 << rng.randrange(8))]))
    elif kind == "huge-length":
        # Plant an all-ones or large little-endian integer where lengths live.
        with open(f, "r+b") as fh:
            pos = rng.randrange(size)
            fh.seek(pos)
            fh.write(rng.choice([b"\xff" * 8, b"\x00\x00\x00\x80", b"\xff\xff\xff\x7f",
                                 (1 << 40).to_bytes(8, "little")])[:max(1, size - pos)])
    elif kind == "truncate":
        with open(f, "r+b") as fh:
            fh.truncate(rng.randrange(size + 1))
    elif kind == "zero":
        with open(f, "r+b") as fh:
            pos = rng.randrange(size + 1)
            fh.seek(pos)
            fh.write(b"\0" * min(size - pos, rng.choice([1, 16, 4096])))
    elif kind == "append":
        with open(f, "ab") as fh:
            fh.write(bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 100]))))
    elif kind == "delete":
        os.unlink(f)
    elif kind == "empty":
        open(f, "wb").close()
    elif kind == "symlink":
        os.unlink(f)
        os.symlink(rng.choice([outside, "/dev/zero", f, os.path.join(outside, "secret")]), f)
    elif kind == "fifo":
        os.unlink(f)
        os.mkfifo(f)
    elif kind == "dir":
        os.unlink(f)
        os.mkdir(f)
    return kind + ":" + os.path.basename(f)


def snapshot(paths):
    state = {}
    for top in paths:
        if not os.path.lexists(top):
            continue
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                state[p] = (stat.S_IFMT(st.st_mode), st.st_size if not stat.S_ISDIR(st.st_mode)
                            else 0, st.st_mtime_ns if stat.S_ISREG(st.st_mode) else 0)
    return state


def run_case(args, index, target, work):
    rng = random.Random(args.seed * 1000003 + index)
    case = os.path.join(work, "case%05d" % index)
    os.makedirs(os.path.join(case, "tmp"))
    outside = os.path.join(case, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "secret"), "wb") as fh:
        fh.write(b"not part of any checkpoint\n")
    src = os.path.join(case, "src" + (os.path.splitext(target)[1] if os.path.isfile(target) else ""))
    if os.path.isdir(target):
        shutil.copytree(target, src, symlinks=True)
        shutil.copytree(target, src + ".orig", symlinks=True)
    else:
        shutil.copyfile(target, src)
        shutil.copyfile(target, src + ".orig")
    applied = [mutate(rng, src, outside) for _ in range(rng.choice([1, 1, 2, 3]))]
    name, argv_of = rng.choice(COMMANDS)
    out = os.path.join(case, "out")
    argv = [args.ockpt, "--no-progress"] + argv_of(src, out)
    watched = [src, src + ".orig", outside, os.path.join(case, "tmp")]
    before = snapshot(watched)
    env = dict(os.environ, TMPDIR=os.path.join(case, "tmp"), HOME=os.path.join(case, "tmp"),
               ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:exitcode=86",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87")
    problems = []
    err_path = os.path.join(case, "tmp", ".stderr")
    with open(err_path, "wb") as err, open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, cwd=case, env=env, stdin=subprocess.DEVNULL,
                                stdout=devnull, stderr=err)
        timer = threading.Timer(args.timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        hung = not timer.is_alive()
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    with open(err_path, "rb") as fh:
        stderr = fh.read()
    os.unlink(err_path)
    code = proc.returncode
    rss = usage.ru_maxrss // 1024
    if hung:
        code = None
        problems.append("hang: no exit within %ds" % args.timeout)
    text = stderr.decode(errors="replace")
    if code is not None:
        if code < 0:
            problems.append("crash: signal %d" % -code)
        elif code in (86, 87) or "Sanitizer" in text or "runtime error:" in text:
            problems.append("sanitizer report")
        elif code > 6:
            problems.append("exit %d outside the contract" % code)
        elif code != 0 and code != 1 and not text.strip():
            problems.append("exit %d with nothing on stderr" % code)
    after = snapshot(watched)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        problems.append("wrote outside OUT: " + ", ".join(changed[:5]))
    for leftover in os.listdir(case):
        if leftover not in ("tmp", "outside", os.path.basename(src),
                            os.path.basename(src) + ".orig") and \
                not leftover.startswith("out"):
            problems.append("left %s in the working directory" % leftover)
    return {"index": index, "target": target, "mutations": applied, "command": name,
            "argv": argv, "code": code, "problems": problems, "stderr": text[-2000:],
            "case": case, "rss": rss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("golden", nargs="*")
    ap.add_argument("--ockpt", default=os.path.join(ROOT, "build/apps/ockpt/ockpt"))
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--rss-limit", type=int, default=0, help="MiB; 0 = not checked")
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    args.ockpt = os.path.abspath(args.ockpt)
    roots = args.golden or [os.path.join(ROOT, "tests/data/golden"),
                            os.path.join(ROOT, "tests/data/flax")]
    targets = find_targets(roots)
    if not targets:
        sys.exit("mutate_campaign: no checkpoints under %s" % ", ".join(roots))
    work = tempfile.mkdtemp(prefix="ockpt-mutate-")
    keep = args.keep or tempfile.mkdtemp(prefix="ockpt-mutate-failures-")
    rng = random.Random(args.seed)
    plan = [(i, rng.choice(targets)) for i in range(args.cases)]
    results = []
    by_code = collections.Counter()
    by_command = collections.Counter()
    failures = []

    def one(item):
        i, target = item
        return run_case(args, i, target, work)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for r in pool.map(one, plan):
            results.append(r)
            by_code[r["code"]] += 1
            by_command[r["command"]] += 1
            if args.rss_limit and r["rss"] > args.rss_limit:
                r["problems"].append("peak RSS %d MiB" % r["rss"])
            if r["problems"]:
                failures.append(r)
                dest = os.path.join(keep, os.path.basename(r["case"]))
                shutil.copytree(r["case"], dest, symlinks=True, dirs_exist_ok=True)
                with open(os.path.join(dest, "repro.sh"), "w") as fh:
                    fh.write("cd %s && %s\n" % (r["case"], " ".join(map(repr, r["argv"]))))
            shutil.rmtree(r["case"], ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    print("mutation campaign: %d cases over %d targets, seed %d, %s" % (
        len(results), len(targets), args.seed, args.ockpt))
    print("exit codes: " + ", ".join("%s: %d" % (k, v) for k, v in sorted(
        by_code.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))))
    print("commands: " + ", ".join("%s: %d" % kv for kv in sorted(by_command.items())))
    if args.rss_limit:
        print("peak RSS: max %d MiB" % max(r["rss"] for r in results))
    kinds = collections.Counter(p.split(":")[0] for r in failures for p in r["problems"])
    print("failures: %d %s" % (len(failures), dict(kinds)))
    for r in failures[:30]:
        print("  case %d %s on %s after %s: %s\n    %s" % (
            r["index"], r["command"], os.path.relpath(r["target"], ROOT), r["mutations"],
            "; ".join(r["problems"]), r["stderr"].strip().splitlines()[-1:] or ""))
    internal = [r for r in results if r["code"] == 6]
    if internal:
        print("exit 6 (I/O or internal failure; review: damaged input is exit 4):")
        for r in internal[:20]:
            print("  case %d %s on %s after %s: %s" % (
                r["index"], r["command"], os.path.relpath(r["target"], ROOT), r["mutations"],
                (r["stderr"].strip().splitlines() or [""])[-1][:300]))
    if failures:
        print("kept under %s" % keep)
    else:
        shutil.rmtree(keep, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
