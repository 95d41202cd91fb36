#!/usr/bin/env bash
# Save/restore benchmark against peers (not a test): one float32 array
# (smooth values + noise, so zstd has something to do) of 64 MiB .. 1 GiB
# (2 GiB with --full), saved and restored by
#   ockpt          (OCDBT + zarr2, zstd level 1 and uncompressed; 1 and 2 threads)
#   python3-zarr   (zarr 2.13 + numcodecs Zstd(level=1), same chunks; 1 thread)
#   h5py           (contiguous, and chunked with the same chunks; no filter)
#   cp / cat       (the same bytes, file to file)
# with wall time and peak RSS (GNU time %M) of every run. Saves end with an
# fsync of what they wrote for every tool (ockpt always syncs); restores do
# not sync. The page cache is warm (the source is read once before). Writes
# a markdown report and a PNG plot.
#
#   scripts/bench.sh [--full] [--sizes 64,256,1024] [--chunk-bytes N]
#                    [--repeat N] [--ockpt PATH] [--work DIR]
#                    [--out docs/perf.md] [--plot docs/perf.png] [--no-default-chunks]
#
# Default: 64, 256 and 1024 MiB, 4 MiB chunks, best of 2 runs
# (about 5 minutes on 2 cores); --full adds 2048 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 - "$@" <<'PY'
import argparse, json, os, platform, shutil, subprocess, sys, time

ap = argparse.ArgumentParser(prog="scripts/bench.sh")
ap.add_argument("--full", action="store_true", help="add a 2048 MiB array")
ap.add_argument("--sizes", default="64,256,1024", help="array sizes in MiB")
ap.add_argument("--chunk-bytes", type=int, default=4 << 20)
ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
ap.add_argument("--ockpt", default="build/apps/ockpt/ockpt")
ap.add_argument("--work", default="/tmp/ockpt-bench")
ap.add_argument("--out", default="docs/perf.md")
ap.add_argument("--plot", default="docs/perf.png")
ap.add_argument("--no-default-chunks", action="store_true",
                help="skip the Orbax-default (one chunk per array) run at the largest size")
args = ap.parse_args()

sizes = [int(s) for s in args.sizes.split(",") if s]
if args.full and 2048 not in sizes:
    sizes.append(2048)
sizes.sort()
ockpt = os.path.abspath(args.ockpt)
if not os.access(ockpt, os.X_OK):
    sys.exit(f"no ockpt binary at {ockpt} (build it: ninja -C build ockpt)")
PY3 = "/usr/bin/python3"
COLS = 1024
chunk_rows = max(1, args.chunk_bytes // (4 * COLS))
work = os.path.abspath(args.work)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# --- helper programs, each run as its own process (for its own peak RSS) ---

HELPERS = r'''
import os, sys, numpy as np

def fsync_tree(path):
    paths = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

def npy_reader(path):
    f = open(path, "rb")
    version = np.lib.format.read_magic(f)
    shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    return f, shape, dtype

def slabs(rows, step):
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)

def write_npy_header(f, shape, dtype):
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                            "fortran_order": False, "shape": tuple(shape)})

op, src, dst, step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if op == "gen":
    rows = int(dst.split(":")[1]); dst = dst.split(":")[0]
    rng = np.random.default_rng(0)
    with open(dst, "wb") as f:
        write_npy_header(f, (rows, 1024), np.dtype("<f4"))
        x = np.linspace(0, 8 * np.pi, 1024, dtype=np.float32)
        for r0, r1 in slabs(rows, 4096):
            base = np.sin(x[None, :] + np.arange(r0, r1, dtype=np.float32)[:, None] * 1e-3)
            noise = rng.normal(0, 0.01, size=(r1 - r0, 1024)).astype(np.float32)
            (np.round((base + noise) * 4096) / 4096).astype("<f4").tofile(f)
elif op in ("zarr-save", "h5-save", "h5c-save"):
    f, shape, dtype = npy_reader(src)
    rows = shape[0]
    if op == "zarr-save":
        import zarr, numcodecs
        out = zarr.open(dst, mode="w", shape=shape, chunks=(step,) + tuple(shape[1:]), dtype=dtype,
                        compressor=numcodecs.Zstd(level=1))
    else:
        import h5py
        h = h5py.File(dst, "w")
        out = h.create_dataset("x", shape=shape, dtype=dtype,
                               chunks=(step,) + tuple(shape[1:]) if op == "h5c-save" else None)
    row = int(np.prod(shape[1:]))
    for r0, r1 in slabs(rows, step):
        out[r0:r1] = np.fromfile(f, dtype=dtype, count=(r1 - r0) * row).reshape((r1 - r0,) + tuple(shape[1:]))
    if op != "zarr-save":
        h.close()
    fsync_tree(dst)
elif op == "zarr-restore-whole":
    # The usual way: load the whole array, then save it.
    import zarr
    np.save(dst, zarr.open(src, mode="r")[...])
elif op in ("zarr-restore", "h5-restore"):
    if op == "zarr-restore":
        import zarr
        z = zarr.open(src, mode="r")
    else:
        import h5py
        h = h5py.File(src, "r")
        z = h["x"]
    with open(dst, "wb") as f:
        write_npy_header(f, z.shape, z.dtype)
        for r0, r1 in slabs(z.shape[0], step):
            np.ascontiguousarray(z[r0:r1]).tofile(f)
else:
    sys.exit("unknown op " + op)
'''
helper = os.path.join(work, "helper.py")
with open(helper, "w") as f:
    f.write(HELPERS)

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)

def remove(paths):
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))

def timed(cmd, clean=(), keep=False):
    """Runs cmd (after removing `clean` paths) args.repeat times: best wall,
    max RSS. The outputs are removed afterwards unless `keep` (less page
    cache in use, so that nothing else gets evicted)."""
    best, rss = None, 0
    for _ in range(args.repeat):
        remove(clean)
        # Every run starts with no dirty page cache: otherwise writeback of
        # the previous runs' outputs (GiBs at 2 GiB) throttles this one's
        # writes, and identical runs differed by 2x.
        os.sync()
        tfile = os.path.join(work, "time.txt")
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
        with open(tfile) as f:
            kib = int(f.read().strip().splitlines()[-1])
        best = wall if best is None else min(best, wall)
        rss = max(rss, kib)
    if not keep:
        remove(clean)
    return best, rss / 1024.0

def warm(path):
    for d, _, fs in os.walk(path) if os.path.isdir(path) else [(os.path.dirname(path), None, [os.path.basename(path)])]:
        for fn in fs:
            with open(os.path.join(d, fn), "rb") as f:
                while f.read(16 << 20):
                    pass

def load():
    return os.getloadavg()[0]

results = []  # dicts: size, op, tool, threads, secs, rss
def record(size, op, tool, threads, secs_rss):
    secs, rss = secs_rss
    results.append(dict(size=size, op=op, tool=tool, threads=threads, secs=secs, rss=rss))
    print(f"{size:5d} MiB  {op:7s}  {tool:34s} t={threads}  {secs:7.3f} s  {size / secs:8.1f} MiB/s  "
          f"rss {rss:7.1f} MiB", file=sys.stderr, flush=True)

load_before = os.getloadavg()
start = time.time()
ock = lambda t, *a: [ockpt, "--threads", str(t), "--no-progress"] + list(a)
CB = ["--chunk-bytes", str(args.chunk_bytes)]
for size in sizes:
    rows = size * (1 << 20) // (4 * COLS)
    d = os.path.join(work, f"s{size}")
    os.makedirs(os.path.join(d, "src", "params"))
    npy = os.path.join(d, "src", "params", "x.npy")
    print(f"generating {size} MiB ...", file=sys.stderr, flush=True)
    sh([PY3, helper, "gen", "-", f"{npy}:{rows}", "0"])
    with open(os.path.join(d, "src", "_tree.json"), "w") as f:
        json.dump({"leaves": [{"keypath": [{"key": "params", "type": "dict"}, {"key": "x", "type": "dict"}],
                               "value_type": "np.ndarray", "dtype": "float32"}], "custom_metadata": None}, f)
    warm(npy)
    P = lambda name: os.path.join(d, name)
    # Saves.
    record(size, "save", "cp (+fsync)", 1, timed(["sh", "-c", f'cp "{npy}" "{P("cp.npy")}" && sync "{P("cp.npy")}"'], [P("cp.npy")]))
    for t in (1, 2):
        record(size, "save", "ockpt zstd:1", t, timed(ock(t, "save", *CB, P("src"), P(f"ck_z{t}")), [P(f"ck_z{t}")], keep=t == 1))
        record(size, "save", "ockpt uncompressed", t,
               timed(ock(t, "save", *CB, "--compression", "none", P("src"), P(f"ck_n{t}")), [P(f"ck_n{t}")], keep=t == 1))
    record(size, "save", "zarr-python zstd:1", 1, timed([PY3, helper, "zarr-save", npy, P("z.zarr"), str(chunk_rows)], [P("z.zarr")], keep=True))
    record(size, "save", "h5py contiguous", 1, timed([PY3, helper, "h5-save", npy, P("x.h5"), str(chunk_rows)], [P("x.h5")], keep=True))
    record(size, "save", "h5py chunked", 1, timed([PY3, helper, "h5c-save", npy, P("xc.h5"), str(chunk_rows)], [P("xc.h5")], keep=True))
    default_chunks = size == sizes[-1] and not args.no_default_chunks
    if default_chunks:
        record(size, "save", "ockpt zstd:1, Orbax default chunks", 2, timed(ock(2, "save", P("src"), P("ck_d")), [P("ck_d")], keep=True))
    # Restores (each output removed before every run).
    for p in ("ck_z1", "ck_n1", "z.zarr", "x.h5", "xc.h5"):
        warm(P(p))
    record(size, "restore", "cat", 1, timed(["sh", "-c", f'cat "{npy}" > "{P("cat.npy")}"'], [P("cat.npy")]))
    for t in (1, 2):
        record(size, "restore", "ockpt zstd:1", t, timed(ock(t, "restore", P("ck_z1"), P("out")), [P("out")], keep=True))
        sh(["cmp", npy, os.path.join(P("out"), "params", "x.npy")])  # the round trip is exact
        remove([P("out")])
        record(size, "restore", "ockpt uncompressed", t, timed(ock(t, "restore", P("ck_n1"), P("out")), [P("out")]))
    record(size, "restore", "zarr-python zstd:1", 1, timed([PY3, helper, "zarr-restore", P("z.zarr"), P("out.npy"), str(chunk_rows)], [P("out.npy")]))
    record(size, "restore", "zarr-python zstd:1, whole array", 1, timed([PY3, helper, "zarr-restore-whole", P("z.zarr"), P("out.npy"), str(chunk_rows)], [P("out.npy")]))
    record(size, "restore", "h5py contiguous", 1, timed([PY3, helper, "h5-restore", P("x.h5"), P("out.npy"), str(chunk_rows)], [P("out.npy")]))
    record(size, "restore", "h5py chunked", 1, timed([PY3, helper, "h5-restore", P("xc.h5"), P("out.npy"), str(chunk_rows)], [P("out.npy")]))
    if default_chunks:
        warm(P("ck_d"))
        record(size, "restore", "ockpt zstd:1, Orbax default chunks", 2, timed(ock(2, "restore", P("ck_d"), P("out")), [P("out")]))
    # Converts (checkpoint to safetensors and .npz).
    for fmt in ("safetensors", "npz"):
        record(size, "convert", f"ockpt zstd:1 -> {fmt}", 2,
               timed(ock(2, "convert", P("ck_z1"), P(f"out.{fmt}")), [P(f"out.{fmt}")]))
        if default_chunks:
            record(size, "convert", f"ockpt zstd:1 -> {fmt}, Orbax default chunks", 2,
                   timed(ock(2, "convert", P("ck_d"), P(f"out.{fmt}")), [P(f"out.{fmt}")]))
    # The compressed sizes.
    du = lambda p: int(subprocess.run(["du", "-sb", p], capture_output=True, text=True).stdout.split()[0])
    results.append(dict(size=size, op="ratio", tool="ockpt", threads=0, secs=du(P("ck_z1")) / du(npy), rss=0))
    results.append(dict(size=size, op="ratio", tool="zarr", threads=0, secs=du(P("z.zarr")) / du(npy), rss=0))
    shutil.rmtree(d)
elapsed = time.time() - start
load_after = os.getloadavg()

# --- report ---

def get(size, op, tool, threads=None):
    for r in results:
        if r["size"] == size and r["op"] == op and r["tool"] == tool and (threads is None or r["threads"] == threads):
            return r
    return None

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()

rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
import zarr, numcodecs, h5py, numpy
L = []
L.append("# Performance: save and restore against peers\n")
L.append("Generated by `scripts/bench.sh` " + ("--full " if args.full else "") +
         f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; ockpt {rev}{' (+ local changes)' if dirty else ''}.\n")
L.append("## Setup\n")
L.append(f"- Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
         f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM. "
         f"Load average 1 min: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
         "(the machine is shared with other builds, so numbers are noisy).")
L.append(f"- Data: one float32 array of shape (rows, {COLS}) per size: a smooth sine field plus "
         "Gaussian noise (sigma 0.01), rounded to multiples of 2^-12, so zstd level 1 compresses it to "
         + ", ".join(f"{get(s, 'ratio', 'ockpt')['secs']:.0%}" for s in sizes) + " of its size (zarr-python: "
         + ", ".join(f"{get(s, 'ratio', 'zarr')['secs']:.0%}" for s in sizes) + ").")
L.append(f"- Chunks: {chunk_rows} x {COLS} ({args.chunk_bytes / 2**20:g} MiB) for every chunked format: "
         f"`ockpt save --chunk-bytes {args.chunk_bytes}` (Orbax's chunk choice, OCDBT + zarr2, "
         "`zstd:1` or `--compression none`), zarr-python with `numcodecs.Zstd(level=1)`, h5py chunked "
         "without a filter. Orbax's own default is one chunk per array (up to 2 GiB): see the "
         "'Orbax default chunks' rows.")
L.append(f"- Versions: zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, h5py {h5py.__version__} "
         f"(HDF5 {h5py.version.hdf5_version}), numpy {numpy.__version__}, Python {platform.python_version()}.")
L.append("- Save = from the `.npy` file (restore's layout) to the format, ending with an fsync of "
         "everything written, for every tool (`ockpt save` always fsyncs; the peers and `cp` get an "
         "explicit fsync). Restore = from the format to a `.npy` file, no fsync. The Python peers "
         "stream in chunk-sized slabs (no memory maps), in one process each, single-threaded "
         "(zarr 2.13 and h5py have no thread pool).")
L.append("- Page cache: **warm** (inputs read once before each group of runs, 23 GiB RAM holds "
         "everything); outputs are removed and dirty pages written back (`sync`) before each run, so no run pays for the writeback of the one before. Times are the best of "
         f"{args.repeat} runs; peak RSS (GNU time `%M`) the largest.")
L.append(f"- Whole run: {elapsed / 60:.1f} minutes.\n")

L.append("## Results\n")
L.append("Throughput is array MiB / wall seconds.\n")
for op in ("save", "restore", "convert"):
    L.append(f"### {op.capitalize()}\n")
    head = "| tool | threads | " + " | ".join(f"{s} MiB: s | MiB/s | RSS MiB" for s in sizes) + " |"
    L.append(head)
    L.append("|" + "---|" * (2 + 3 * len(sizes)))
    seen = []
    for r in results:
        key = (r["tool"], r["threads"])
        if r["op"] != op or key in seen:
            continue
        seen.append(key)
        cells = []
        for s in sizes:
            x = get(s, op, r["tool"], r["threads"])
            cells += [f"{x['secs']:.2f}", f"{s / x['secs']:.0f}", f"{x['rss']:.0f}"] if x else ["", "", ""]
        L.append(f"| {r['tool']} | {r['threads']} | " + " | ".join(cells) + " |")
    L.append("")

# Targets, at every size (the goals are stated for 2 GiB).
def rate(s, op, tool, t):
    x = get(s, op, tool, t)
    return s / x["secs"] if x else float("nan")
def ratio(op, a, ta, b, tb):
    return [rate(s, op, a, ta) / rate(s, op, b, tb) for s in sizes]
checks = [
    ("save, zstd:1, 2 threads vs zarr-python", ratio("save", "ockpt zstd:1", 2, "zarr-python zstd:1", 1), 3.0, "x"),
    ("restore, zstd:1, 2 threads vs zarr-python", ratio("restore", "ockpt zstd:1", 2, "zarr-python zstd:1", 1), 4.0, "x"),
    ("restore, zstd:1, 2 threads vs zarr-python whole array (`z[...]` + `np.save`)",
     ratio("restore", "ockpt zstd:1", 2, "zarr-python zstd:1, whole array", 1), 4.0, "x"),
    ("restore, uncompressed, 2 threads vs cat", ratio("restore", "ockpt uncompressed", 2, "cat", 1), 0.8, "x"),
    ("save, zstd:1: 2 threads vs 1", ratio("save", "ockpt zstd:1", 2, "ockpt zstd:1", 1), 1.7, "x"),
    ("restore, zstd:1: 2 threads vs 1", ratio("restore", "ockpt zstd:1", 2, "ockpt zstd:1", 1), 1.7, "x"),
    (f"peak RSS of ockpt save/restore, {args.chunk_bytes >> 20} MiB chunks (MiB)",
     [max(get(s, op, tool, t)["rss"] for op in ("save", "restore")
          for tool in ("ockpt zstd:1", "ockpt uncompressed") for t in (1, 2)) for s in sizes], 256, "MiB"),
    ("peak RSS of ockpt convert, 4 MiB chunks (MiB)",
     [max(get(s, "convert", f"ockpt zstd:1 -> {f}", 2)["rss"] for f in ("safetensors", "npz")) for s in sizes], 256, "MiB"),
]
if not args.no_default_chunks:
    S = sizes[-1]
    rows = [get(S, op, tool, 2) for op, tool in (
        ("save", "ockpt zstd:1, Orbax default chunks"), ("restore", "ockpt zstd:1, Orbax default chunks"),
        ("convert", "ockpt zstd:1 -> safetensors, Orbax default chunks"),
        ("convert", "ockpt zstd:1 -> npz, Orbax default chunks"))]
    checks.append((f"peak RSS of ockpt save/restore/convert, Orbax default chunks (one {S} MiB chunk) (MiB)",
                   [float("nan")] * (len(sizes) - 1) + [max(r["rss"] for r in rows if r)], 256, "MiB"))
L.append("## Targets\n")
L.append("Met / not met is judged at the largest size measured; the goals are stated for 2 GiB.\n")
L.append("| target | goal | " + " | ".join(f"{s} MiB" for s in sizes) + " | |")
L.append("|---|---|" + "---|" * len(sizes) + "---|")
for name, vals, goal, unit in checks:
    if unit == "MiB":
        cells, ok, g = [f"{v:.0f}" if v == v else "" for v in vals], vals[-1] < goal, f"< {goal}"
    else:
        cells, ok, g = [f"{v:.2f}x" for v in vals], vals[-1] >= goal, f">= {goal}x"
    L.append(f"| {name} | {g} | " + " | ".join(cells) + f" | {'met' if ok else '**not met**'} |")
L.append("")
L.append("<!-- analysis -->\n")

md = "\n".join(L) + "\n"
# Keep a hand-written analysis (everything after the marker) across runs.
marker = "<!-- analysis -->"
if os.path.exists(args.out):
    old = open(args.out).read()
    if marker in old and old.split(marker, 1)[1].strip():
        md = md.split(marker, 1)[0] + marker + "\n\n" + old.split(marker, 1)[1].strip() + "\n"
with open(args.out, "w") as f:
    f.write(md)
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump(results, f, indent=1)

# --- plot ---
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
S = sizes[-1]
fig, axes = plt.subplots(1, 3, figsize=(16, 5))
styles = {"ockpt zstd:1": "C0", "ockpt uncompressed": "C1", "zarr-python zstd:1": "C2",
          "h5py contiguous": "C3", "h5py chunked": "C4", "cp (+fsync)": "C7", "cat": "C7"}
for ax, op in zip(axes[:2], ("save", "restore")):
    for tool, color in styles.items():
        for t in (1, 2):
            pts = [(s, s / get(s, op, tool, t)["secs"]) for s in sizes if get(s, op, tool, t)]
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color,
                    linestyle="-" if t == 2 or not tool.startswith("ockpt") else "--",
                    label=f"{tool}" + (f" ({t} thr)" if tool.startswith("ockpt") else ""))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s}" for s in sizes])
    ax.set_xlabel("array size (MiB)")
    ax.set_ylabel("MiB/s (higher is better)")
    ax.set_title(f"{op} (warm page cache)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
ax = axes[2]
labels, vals, colors = [], [], []
for op in ("save", "restore", "convert"):
    for r in results:
        if r["size"] == S and r["op"] == op:
            labels.append(f"{op}: {r['tool']}" + (f" ({r['threads']} thr)" if r["tool"].startswith("ockpt") else ""))
            vals.append(r["rss"])
            colors.append(styles.get(r["tool"], "C5"))
ax.barh(range(len(vals)), vals, color=colors)
ax.set_yticks(range(len(vals)))
ax.set_yticklabels(labels, fontsize=6)
ax.invert_yaxis()
ax.set_xscale("log")
ax.axvline(256, color="red", linestyle=":", label="256 MiB goal")
ax.set_xlabel("peak RSS (MiB, log)")
ax.set_title(f"peak RSS at {S} MiB")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.plot, dpi=110)
print(f"wrote {args.out} and {args.plot} ({elapsed / 60:.1f} min)", file=sys.stderr)
shutil.rmtree(work, ignore_errors=True)
PY
