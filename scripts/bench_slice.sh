#!/usr/bin/env bash
# Slice-restore benchmark (not a test; issue 17): does a sharded restore of
# 1/8 of a large multi-chunk array read only the chunks it needs?
#
# Makes a float32 array of SIZE MiB (default 1024; 16384 columns, smooth
# values + noise) in WORK (default /tmp/ockpt-bench-slice; never in git),
# saves it with ockpt in row chunks of CHUNK_ROWS (default 256: 64 chunks of
# 16 MiB for 1 GiB; zarr2 + zstd:1, and with --zarr3 also zarr3 shards), then
# restores
#   the whole array,
#   --mesh x=8 --spec w=x --shard 3   (rows on chunk boundaries: 8 chunks),
#   --mesh x=7 --spec w=x --shard 3   (uneven: rows cut inside chunks),
#   --mesh x=8 --spec w=None,x --shard 3 (columns: every chunk is touched),
# and reports for each the bytes the process read (rchar of /proc/PID/io,
# read when the process has exited but before it is reaped: every read and
# pread, data and metadata, page cache or not), the stored bytes of the
# chunks the piece overlaps (from `ockpt ocdbt ls --json`), wall time and
# peak RSS. Prints a markdown table.
#
#   scripts/bench_slice.sh [--size MIB] [--chunk-rows N] [--ockpt PATH] [--work DIR] [--zarr3]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 - "$@" <<'PY'
import argparse, json, os, shutil, subprocess, sys, time

import numpy as np

ap = argparse.ArgumentParser(prog="scripts/bench_slice.sh")
ap.add_argument("--size", type=int, default=1024, help="array size in MiB")
ap.add_argument("--chunk-rows", type=int, default=256)
ap.add_argument("--ockpt", default="build/apps/ockpt/ockpt")
ap.add_argument("--work", default="/tmp/ockpt-bench-slice")
ap.add_argument("--zarr3", action="store_true", help="also a zarr3 (sharding_indexed) checkpoint")
args = ap.parse_args()

COLS = 16384
rows = args.size * (1 << 20) // (4 * COLS)
work = args.work
os.makedirs(work, exist_ok=True)
src = os.path.join(work, f"src_{args.size}")
if not os.path.exists(os.path.join(src, "w.npy")):
    os.makedirs(src, exist_ok=True)
    m = np.lib.format.open_memmap(os.path.join(src, "w.npy.tmp"), mode="w+", dtype=np.float32, shape=(rows, COLS))
    rng = np.random.default_rng(0)
    x = np.linspace(0, 20, COLS, dtype=np.float32)
    for r in range(0, rows, 256):
        n = min(256, rows - r)
        m[r:r + n] = np.sin(x + np.arange(r, r + n, dtype=np.float32)[:, None] / 100) + \
            rng.standard_normal((n, COLS), dtype=np.float32) * 0.01
    m.flush()
    del m
    os.rename(os.path.join(src, "w.npy.tmp"), os.path.join(src, "w.npy"))


# Measured from a small helper process without NumPy: a child's peak RSS
# (ru_maxrss) starts from its parent's at fork, and this script's is large.
MEASURE = r"""
import json, os, subprocess, sys, time
t = time.time()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: /proc/PID/io is there
io = dict(l.split(": ") for l in open(f"/proc/{p.pid}/io").read().split("\n") if l)
_, status, ru = os.wait4(p.pid, 0)
print(json.dumps({"secs": time.time() - t, "rchar": int(io["rchar"]), "rss_kib": ru.ru_maxrss,
                  "status": status, "err": p.stderr.read().decode()}))
"""


def run(cmd):
    """(seconds, rchar, peak RSS KiB) of one ockpt run."""
    out = subprocess.run(["/usr/bin/python3", "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    if r["status"] != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r['status'] >> 8}: {r['err']}")
    return r["secs"], r["rchar"], r["rss_kib"]


def chunk_sizes(ck):
    """{(row chunk, col chunk): stored bytes} from the root database's listing."""
    out = subprocess.run([args.ockpt, "ocdbt", "ls", ck, "--json"], capture_output=True, text=True, check=True)
    sizes = {}
    for k in json.loads(out.stdout)["keys"]:
        key = k.get("key", "")
        if not key.startswith("w/"):
            continue
        tail = key[2:]
        if tail.startswith("c/"):
            tail = tail[2:].replace("/", ".")
        parts = tail.split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            sizes[(int(parts[0]), int(parts[1]))] = k["size"]
    return sizes


layouts = [("zarr2", [])] + ([("zarr3", ["--zarr3"])] if args.zarr3 else [])
print(f"array: float32 [{rows}, {COLS}] ({args.size} MiB), chunks [{args.chunk_rows}, {COLS}] "
      f"({rows // args.chunk_rows} chunks of {args.chunk_rows * COLS * 4 >> 20} MiB), zstd\n")
print("| layout | restore | rows x cols | chunks touched | stored bytes of those chunks | bytes read (rchar) | read / needed | wall s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for name, flags in layouts:
    ck = os.path.join(work, f"ck_{args.size}_{args.chunk_rows}_{name}")
    if not os.path.exists(ck):
        subprocess.run([args.ockpt, "--no-progress", "save", src, ck, "--chunk-shape", f"{args.chunk_rows},{COLS}", *flags],
                       check=True)
    sizes = chunk_sizes(ck)
    cases = [("whole", [], (0, rows), (0, COLS))]
    for mesh, spec, dev in (("x=8", "w=x", 3), ("x=7", "w=x", 3), ("x=8", "w=None,x", 3)):
        k = int(mesh.split("=")[1])
        n = rows if spec == "w=x" else COLS
        length = -(-n // k)
        lo, hi = min(dev * length, n), min(dev * length + length, n)
        box = ((lo, hi), (0, COLS)) if spec == "w=x" else ((0, rows), (lo, hi))
        cases.append((f"--mesh {mesh} --spec {spec} --shard {dev}", ["--mesh", mesh, "--spec", spec, "--shard", str(dev)], *box))
    for label, extra, (r0, r1), (c0, c1) in cases:
        touched = [(i, 0) for i in range(r0 // args.chunk_rows, (r1 - 1) // args.chunk_rows + 1)]
        needed = sum(sizes[t] for t in touched)
        out = os.path.join(work, "out")
        shutil.rmtree(out, ignore_errors=True)
        best = None
        for _ in range(2):
            shutil.rmtree(out, ignore_errors=True)
            r = run([args.ockpt, "--no-progress", "--threads", "2", "restore", ck, out, *extra])
            best = r if best is None or r[0] < best[0] else best
        secs, rchar, rss = best
        print(f"| {name} | `{label}` | {r1 - r0} x {c1 - c0} | {len(touched)} of {len(sizes)} | {needed:,} | {rchar:,} | "
              f"{rchar / needed:.3f} | {secs:.2f} | {rss / 1024:.0f} |", flush=True)
        shutil.rmtree(out, ignore_errors=True)
PY
