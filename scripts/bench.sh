#!/usr/bin/env bash
# Save/restore benchmark against the machine's limits (not a test): one
# float32 array (smooth values + noise, so zstd has something to do) of
# 1 GiB (2 GiB too with --full) in chunks of 4 MiB, 64 MiB, 256 MiB and one
# chunk per array (Orbax's default), saved and restored by
#   ockpt          (OCDBT + zarr2, zstd level 1 and uncompressed; 1 and 2 threads)
#   python3-zarr   (zarr 2.13 + numcodecs Zstd(level=1), the same chunks; 1 thread)
#   cp / cat       (the same bytes, file to file)
# with wall time and peak RSS (GNU time %M) of every run. In the same run,
# right before each chunk size's runs, `zstd -b1 -T1` measures one core's
# libzstd compress and decompress speed on a sample of the benchmark data
# (and `cat`, `cp` the same bytes); every ockpt row is reported as a
# fraction of the limit measured before it:
#   save zstd:1      threads x one core's compress speed (one chunk too:
#                    libzstd's own workers)
#   restore zstd:1   the lesser of threads x one core's decompress speed and
#                    `cat`; one chunk per array: one core's decompress speed
#                    (one zstd frame decodes on one core)
#   uncompressed     `cat` (restore) and `cp` + fsync (save)
# Saves end with an fsync of what they wrote for every tool (ockpt always
# syncs); restores do not sync. The page cache is warm (the source is read
# once before). Right before each run a child process touches as much
# memory as the run will write and exits (see prime(); --no-prime skips
# it), so that no run pays the VM host's faults on memory freed earlier.
# Writes a markdown report and a PNG plot (the plot needs
# python3-matplotlib: apt install python3-matplotlib).
#
#   scripts/bench.sh [--full] [--sizes 1024] [--chunks 4,64,256,one]
#                    [--repeat N] [--ockpt PATH] [--work DIR]
#                    [--out docs/perf.md] [--plot docs/perf.png] [--no-zarr]
#                    [--no-prime]
#
# Default: 1024 MiB, best of 2 runs (about 10 minutes on 2 cores); --full
# adds 2048 MiB (--full --no-zarr --repeat 5: 32 minutes). Quick sanity
# check: --sizes 256 --repeat 1.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 - "$@" <<'PY'
import argparse, json, os, platform, re, shutil, subprocess, sys, time

ap = argparse.ArgumentParser(prog="scripts/bench.sh")
ap.add_argument("--full", action="store_true", help="add a 2048 MiB array")
ap.add_argument("--sizes", default="1024", help="array sizes in MiB")
ap.add_argument("--chunks", default="4,64,256,one",
                help="chunk sizes in MiB; 'one' = one chunk per array (Orbax's default)")
ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
ap.add_argument("--ockpt", default="build/apps/ockpt/ockpt")
ap.add_argument("--work", default="/tmp/ockpt-bench")
ap.add_argument("--out", default="docs/perf.md")
ap.add_argument("--plot", default="docs/perf.png")
ap.add_argument("--no-zarr", action="store_true", help="skip python3-zarr (its saves are slow)")
ap.add_argument("--no-prime", action="store_true",
                help="do not touch memory before each run (see prime())")
args = ap.parse_args()

sizes = sorted({int(s) for s in args.sizes.split(",") if s} | ({2048} if args.full else set()))
layouts = [c for c in args.chunks.split(",") if c]
ockpt = os.path.abspath(args.ockpt)
if not os.access(ockpt, os.X_OK):
    sys.exit(f"no ockpt binary at {ockpt} (build it: ninja -C build ockpt)")
if not shutil.which("zstd"):
    sys.exit("no zstd command (apt install zstd): it measures the limit")
PY3 = "/usr/bin/python3"
BENCH_DATA = os.path.abspath("scripts/bench_data.py")  # the array (shared with bench_threads.sh)
COLS = 1024
work = os.path.abspath(args.work)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

def layout_name(c):
    return "one chunk" if c == "one" else f"{c} MiB"

def chunk_rows(c, rows):
    return rows if c == "one" else max(1, min(rows, int(c) * (1 << 20) // (4 * COLS)))

# --- helper programs, each run as its own process (for its own peak RSS) ---

HELPERS = r"""
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
if op == "zarr-save":
    import zarr, numcodecs
    f, shape, dtype = npy_reader(src)
    out = zarr.open(dst, mode="w", shape=shape, chunks=(step,) + tuple(shape[1:]), dtype=dtype,
                    compressor=numcodecs.Zstd(level=1))
    row = int(np.prod(shape[1:]))
    for r0, r1 in slabs(shape[0], step):
        out[r0:r1] = np.fromfile(f, dtype=dtype, count=(r1 - r0) * row).reshape((r1 - r0,) + tuple(shape[1:]))
    fsync_tree(dst)
elif op == "zarr-restore":
    import zarr
    z = zarr.open(src, mode="r")
    with open(dst, "wb") as f:
        write_npy_header(f, z.shape, z.dtype)
        for r0, r1 in slabs(z.shape[0], step):
            np.ascontiguousarray(z[r0:r1]).tofile(f)
else:
    sys.exit("unknown op " + op)
"""
helper = os.path.join(work, "helper.py")
with open(helper, "w") as f:
    f.write(HELPERS)

def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)

def remove(paths):
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))

def mem_available_mib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0

def prime(mib):
    """Touches `mib` MiB of memory in a child process, which then exits.

    On a VM with free page reporting (virtio-balloon), memory the guest
    frees is handed back to the host a few seconds later, and the guest's
    next touch of it faults on the host too: writing 2 GiB into the page
    cache then takes 3-4 s of system time instead of 0.35 s (measured with
    `cat` on the benchmark machine, with and without a 5 s pause after
    removing the previous output). Which runs pay that depends on how long
    ago their outputs' pages were freed, not on the tool. Touching the
    memory a run will use just before it starts (every run, every tool)
    takes that out of the comparison."""
    if args.no_prime:
        return
    mib = max(0, min(mib, mem_available_mib() // 2))
    subprocess.run([PY3, "-c", f"import numpy as np; np.ones({mib} << 20, np.uint8)"], check=True)

def timed(cmd, clean=(), keep=False, repeat=None, may_fail=False, prime_mib=0):
    """Runs cmd (after removing `clean` paths) `repeat` times: best wall,
    max RSS. The outputs are removed afterwards unless `keep` (less page
    cache in use, so that nothing else gets evicted). None when it failed
    and may_fail. Each run starts right after prime(prime_mib)."""
    best, rss = None, 0
    for _ in range(repeat or args.repeat):
        remove(clean)
        # Every run starts with no dirty page cache: otherwise writeback of
        # the previous runs' outputs throttles this one's writes.
        os.sync()
        prime(prime_mib)
        tfile = os.path.join(work, "time.txt")
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            if may_fail:
                print(f"failed ({r.returncode}), not counted: {' '.join(cmd)}\n{r.stderr[-2000:]}",
                      file=sys.stderr)
                remove(clean)
                return None
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

MIB = float(1 << 20)
def zstd_limits(sample):
    """One core's libzstd level-1 compress / decompress speed on `sample`
    (zstd -b1 -T1), in MiB/s."""
    r = subprocess.run(["zstd", "-b1", "-T1", "-i3", sample], capture_output=True, text=True)
    text = (r.stdout + r.stderr).replace("\r", "\n")
    m = re.findall(r"([\d.]+) MB/s\s*,\s*([\d.]+) MB/s", text)
    if r.returncode != 0 or not m:
        sys.exit("zstd -b1 -T1 gave no speeds:\n" + text[-2000:])
    c, d = (float(x) * 1e6 / MIB for x in m[-1])
    return c, d

results = []  # dicts: size, op, tool, layout, threads, secs, rss
limits = {}   # (size, layout) -> dict(compress, decompress, cat, cp) in MiB/s
def record(size, op, tool, layout, threads, secs_rss):
    if secs_rss is None:
        return
    secs, rss = secs_rss
    results.append(dict(size=size, op=op, tool=tool, layout=layout, threads=threads, secs=secs, rss=rss))
    print(f"{size:5d} MiB  {op:7s}  {layout_name(layout) if layout else '':10s} {tool:22s} t={threads}  "
          f"{secs:7.3f} s  {size / secs:8.1f} MiB/s  rss {rss:7.1f} MiB", file=sys.stderr, flush=True)

load_before = os.getloadavg()
start = time.time()
ock = lambda t, *a: [ockpt, "--threads", str(t), "--no-progress"] + list(a)
for size in sizes:
    rows = size * (1 << 20) // (4 * COLS)
    d = os.path.join(work, f"s{size}")
    os.makedirs(os.path.join(d, "src", "params"))
    npy = os.path.join(d, "src", "params", "x.npy")
    print(f"generating {size} MiB ...", file=sys.stderr, flush=True)
    sh([PY3, BENCH_DATA, npy, str(rows)])
    with open(os.path.join(d, "src", "_tree.json"), "w") as f:
        json.dump({"leaves": [{"keypath": [{"key": "params", "type": "dict"}, {"key": "x", "type": "dict"}],
                               "value_type": "np.ndarray", "dtype": "float32"}], "custom_metadata": None}, f)
    P = lambda name: os.path.join(d, name)
    PRIME = size + 512  # MiB: the largest output, plus the process
    ZPRIME = 3 * size + 512  # python3-zarr holds whole chunks, twice
    def measure_limits(c):
        """The limits next to layout c's runs: the machine's speed moves
        between minutes (one core's zstd compress speed was 238-312 MiB/s
        over three runs of the same data), so each layout is compared with
        what the machine did just before it."""
        # One core's libzstd on (up to 256 MiB of) the same data.
        sample = P("sample.bin")
        with open(npy, "rb") as fi, open(sample, "wb") as fo:
            fo.write(fi.read(min(size, 256) << 20))
        # The best of two runs, each after prime(): the limit is the
        # fastest the machine went (one of five back-to-back runs is often
        # 10-15% slower than the other four).
        speeds = []
        for _ in range(2):
            prime(1024)
            speeds.append(zstd_limits(sample))
        comp, decomp = max(x[0] for x in speeds), max(x[1] for x in speeds)
        os.remove(sample)
        cp = timed(["sh", "-c", f'cp "{npy}" "{P("cp.npy")}" && sync "{P("cp.npy")}"'], [P("cp.npy")],
                   prime_mib=PRIME)
        record(size, "save", "cp (+fsync)", c, 1, cp)
        cat = timed(["sh", "-c", f'cat "{npy}" > "{P("cat.npy")}"'], [P("cat.npy")], prime_mib=PRIME)
        record(size, "restore", "cat", c, 1, cat)
        limits[(size, c)] = dict(compress=comp, decompress=decomp, cat=size / cat[0], cp=size / cp[0])
        print(f"limits at {size} MiB, {layout_name(c)}: compress {comp:.0f} MiB/s, decompress {decomp:.0f} MiB/s "
              f"per core; cat {size / cat[0]:.0f} MiB/s, cp {size / cp[0]:.0f} MiB/s", file=sys.stderr, flush=True)
    for c in layouts:
        cr = chunk_rows(c, rows)
        CB = [] if c == "one" else ["--chunk-bytes", str(cr * 4 * COLS)]
        warm(npy)
        measure_limits(c)
        for t in (1, 2):
            record(size, "save", "ockpt zstd:1", c, t, timed(ock(t, "save", *CB, P("src"), P(f"ck_z{t}")), [P(f"ck_z{t}")], keep=t == 1, prime_mib=PRIME))
            record(size, "save", "ockpt uncompressed", c, t,
                   timed(ock(t, "save", *CB, "--compression", "none", P("src"), P(f"ck_n{t}")), [P(f"ck_n{t}")], keep=t == 1, prime_mib=PRIME))
        if not args.no_zarr:
            record(size, "save", "python3-zarr zstd:1", c, 1,
                   timed([PY3, helper, "zarr-save", npy, P("z.zarr"), str(cr)], [P("z.zarr")], keep=True,
                         repeat=1, may_fail=True, prime_mib=ZPRIME))
        for p in ("ck_z1", "ck_n1", "z.zarr"):
            if os.path.exists(P(p)):
                warm(P(p))
        for t in (1, 2):
            record(size, "restore", "ockpt zstd:1", c, t, timed(ock(t, "restore", P("ck_z1"), P("out")), [P("out")], keep=True, prime_mib=PRIME))
            sh(["cmp", npy, os.path.join(P("out"), "params", "x.npy")])  # the round trip is exact
            remove([P("out")])
            record(size, "restore", "ockpt uncompressed", c, t, timed(ock(t, "restore", P("ck_n1"), P("out")), [P("out")], keep=True, prime_mib=PRIME))
            sh(["cmp", npy, os.path.join(P("out"), "params", "x.npy")])
            remove([P("out")])
        if os.path.exists(P("z.zarr")):
            record(size, "restore", "python3-zarr zstd:1", c, 1,
                   timed([PY3, helper, "zarr-restore", P("z.zarr"), P("out.npy"), str(cr)], [P("out.npy")],
                         may_fail=True, prime_mib=ZPRIME))
        record(size, "convert", "ockpt zstd:1 -> safetensors", c, 2,
               timed(ock(2, "convert", P("ck_z1"), P("out.safetensors")), [P("out.safetensors")], prime_mib=PRIME))
        du = lambda p: int(subprocess.run(["du", "-sb", p], capture_output=True, text=True).stdout.split()[0])
        results.append(dict(size=size, op="ratio", tool="ockpt", layout=c, threads=0, secs=du(P("ck_z1")) / du(npy), rss=0))
        remove([P("ck_z1"), P("ck_n1"), P("z.zarr")])
    shutil.rmtree(d)
elapsed = time.time() - start
load_after = os.getloadavg()

# --- report ---

def get(size, op, tool, layout, threads=None):
    for r in results:
        if (r["size"] == size and r["op"] == op and r["tool"] == tool and r["layout"] == layout
                and (threads is None or r["threads"] == threads)):
            return r
    return None

def limit(size, op, tool, layout, threads):
    """The throughput (MiB/s) a run of this kind cannot beat on this machine."""
    L = limits[(size, layout)]
    cores = min(threads, os.cpu_count() or 1)
    if tool.startswith("ockpt uncompressed"):
        return L["cat"] if op == "restore" else L["cp"]
    if op == "save":
        return cores * L["compress"]
    if layout == "one":
        return min(L["decompress"], L["cat"])
    return min(cores * L["decompress"], L["cat"])

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
import zarr, numcodecs, numpy
zstd_version = subprocess.run(["zstd", "--version"], capture_output=True, text=True).stdout.strip()
L = []
L.append("# Performance: save and restore against the machine's limits\n")
L.append("Generated by `scripts/bench.sh` " + ("--full " if args.full else "") +
         f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; ockpt {rev}{' (+ local changes)' if dirty else ''}.\n")
L.append("## Setup\n")
L.append(f"- Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
         f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM. "
         f"Load average 1 min: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
         "(the machine may be shared with other builds, so numbers can be noisy).")
L.append(f"- Data: one float32 array of shape (rows, {COLS}) per size: a smooth sine field plus "
         "Gaussian noise (sigma 0.01), rounded to multiples of 2^-12; zstd level 1 compresses it to "
         + ", ".join(f"{r['secs']:.0%}" for r in results if r["op"] == "ratio" and r["layout"] == layouts[0])
         + " of its size.")
L.append("- Chunks: " + ", ".join(layout_name(c) for c in layouts) +
         " (row blocks: `ockpt save --chunk-bytes N`, OCDBT + zarr2, `zstd:1` or `--compression none`; "
         "'one chunk' is `ockpt save`'s default, Orbax's one chunk per array); python3-zarr "
         "with `numcodecs.Zstd(level=1)` and the same chunks, streaming in chunk-sized slabs, one thread.")
L.append(f"- Versions: zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, numpy {numpy.__version__}, "
         f"Python {platform.python_version()}, {zstd_version}.")
L.append("- Save = from the `.npy` file to the format, ending with an fsync of everything written "
         "(`ockpt save` always fsyncs; python3-zarr and `cp` get an explicit fsync). Restore = from the "
         "format to a `.npy` file, no fsync; every ockpt restore is compared with the source (`cmp`).")
L.append("- Page cache: **warm** (inputs read once before each group of runs); outputs are removed and "
         "dirty pages written back (`sync`) before each run"
         + ("" if args.no_prime else
            "; then, right before each run of every tool, a child process touches "
            "(array size + 512 MiB; python3-zarr: 3 x array size + 512 MiB) of memory and exits, so that "
            "the run's page cache and buffers come from memory the VM's host has backed (with free page "
            "reporting, memory freed a few seconds earlier faults again on the host: writing 2 GiB into the "
            "page cache took 3-4 s of system time instead of 0.35 s)")
         + ". Times are the best of "
         f"{args.repeat} runs (python3-zarr saves: 1); peak RSS (GNU time `%M`) the largest.")
L.append(f"- Whole run: {elapsed / 60:.1f} minutes.\n")

L.append("## Limits (measured in the same run)\n")
L.append("| array | measured before | one core's libzstd -1 compress | decompress | `cat` | `cp` + fsync |")
L.append("|---|---|---|---|---|---|")
for s in sizes:
    for c in layouts:
        x = limits[(s, c)]
        L.append(f"| {s} MiB | {layout_name(c)} | {x['compress']:.0f} MiB/s | {x['decompress']:.0f} MiB/s | "
                 f"{x['cat']:.0f} MiB/s | {x['cp']:.0f} MiB/s |")
L.append("")
L.append("Measured again right before each chunk size's runs, and each row of the results is compared "
         "with the limits measured before its chunk size. "
         "`zstd -b1 -T1 -i3` on the first 256 MiB of the array, the faster of two runs (MB/s converted to MiB/s); "
         f"`cat` and `cp` the best of {args.repeat}. "
         "The limit of a run (the 'of limit' columns): save zstd:1, threads x one core's compress "
         "speed; restore zstd:1, the lesser of threads x one core's decompress speed and `cat` (one "
         "chunk per array: one core's decompress speed, as one zstd frame decodes on one core); "
         "uncompressed, `cat` (restore) and `cp` + fsync (save).\n")

L.append("## Results\n")
L.append("Throughput is array MiB / wall seconds; 'of limit' is that throughput over the run's limit.\n")
for op in ("save", "restore", "convert"):
    L.append(f"### {op.capitalize()}\n")
    L.append("| chunks | tool | threads | " + " | ".join(f"{s} MiB: s | MiB/s | of limit | RSS MiB" for s in sizes) + " |")
    L.append("|" + "---|" * (3 + 4 * len(sizes)))
    seen = []
    for r in results:
        key = (r["layout"], r["tool"], r["threads"])
        if r["op"] != op or key in seen:
            continue
        seen.append(key)
        cells = []
        for s in sizes:
            x = get(s, op, r["tool"], r["layout"], r["threads"])
            if not x:
                cells += ["", "", "", ""]
                continue
            frac = ""
            if r["tool"].startswith("ockpt") and op != "convert":
                frac = f"{(s / x['secs']) / limit(s, op, r['tool'], r['layout'], r['threads']):.2f}"
            cells += [f"{x['secs']:.2f}", f"{s / x['secs']:.0f}", frac, f"{x['rss']:.0f}"]
        L.append(f"| {layout_name(r['layout']) if r['layout'] else ''} | {r['tool']} | {r['threads']} | " + " | ".join(cells) + " |")
    L.append("")

# Targets (issue 15), at every size; met / not met judged at the largest.
def frac(s, op, tool, c, t):
    x = get(s, op, tool, c, t)
    return (s / x["secs"]) / limit(s, op, tool, c, t) if x else float("nan")
def speedup(s, op, tool, c):
    a, b = get(s, op, tool, c, 2), get(s, op, tool, c, 1)
    return b["secs"] / a["secs"] if a and b else float("nan")
checks = []
for c in layouts:
    n = layout_name(c)
    if c == "one":
        checks.append((f"{n}: save zstd:1, 2 threads, of 2 cores' compress", [frac(s, "save", "ockpt zstd:1", c, 2) for s in sizes], 0.8, "x"))
        checks.append((f"{n}: restore zstd:1, 2 threads, of one core's decompress", [frac(s, "restore", "ockpt zstd:1", c, 2) for s in sizes], 0.8, "x"))
    else:
        checks.append((f"{n}: save zstd:1, 2 threads, of 2 cores' compress", [frac(s, "save", "ockpt zstd:1", c, 2) for s in sizes], 0.8, "x"))
        checks.append((f"{n}: restore zstd:1, 2 threads, of min(2 cores' decompress, cat)", [frac(s, "restore", "ockpt zstd:1", c, 2) for s in sizes], 0.8, "x"))
        checks.append((f"{n}: save zstd:1, 2 threads vs 1", [speedup(s, "save", "ockpt zstd:1", c) for s in sizes], 1.7, "x"))
        checks.append((f"{n}: restore zstd:1, 2 threads vs 1", [speedup(s, "restore", "ockpt zstd:1", c) for s in sizes], 1.7, "x"))
    checks.append((f"{n}: restore uncompressed, 2 threads, of cat", [frac(s, "restore", "ockpt uncompressed", c, 2) for s in sizes], 0.8, "x"))
rss_all = []
for s in sizes:
    v = [r["rss"] for r in results if r["size"] == s and r["tool"].startswith("ockpt")]
    rss_all.append(max(v) if v else float("nan"))
checks.append(("peak RSS of every ockpt run (MiB)", rss_all, 256, "MiB"))
L.append("## Targets\n")
L.append("Issue 15's goals; met / not met is judged at the largest size measured.\n")
L.append("| target | goal | " + " | ".join(f"{s} MiB" for s in sizes) + " | |")
L.append("|---|---|" + "---|" * len(sizes) + "---|")
for name, vals, goal, unit in checks:
    if unit == "MiB":
        cells, ok, g = [f"{v:.0f}" if v == v else "" for v in vals], vals[-1] <= goal, f"<= {goal}"
    else:
        cells, ok, g = [f"{v:.2f}x" if v == v else "" for v in vals], vals[-1] >= goal, f">= {goal}x"
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
    json.dump(dict(results=results, limits={f"{k[0]} {k[1]}": v for k, v in limits.items()}), f, indent=1)

# --- plot: fraction of the limit per chunk size (largest array), and RSS ---
try:
    import matplotlib
except ImportError:
    print(f"wrote {args.out}; no plot: python3-matplotlib is not installed ({elapsed / 60:.1f} min)",
          file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)
matplotlib.use("Agg")
import matplotlib.pyplot as plt
S = sizes[-1]
fig, axes = plt.subplots(1, 3, figsize=(17, 5))
for ax, op in zip(axes[:2], ("save", "restore")):
    series = [("ockpt zstd:1", 1), ("ockpt zstd:1", 2), ("ockpt uncompressed", 1), ("ockpt uncompressed", 2)]
    width = 0.8 / (len(series) + 1)
    for k, (tool, t) in enumerate(series):
        ys = [frac(S, op, tool, c, t) for c in layouts]
        ax.bar([i + k * width for i in range(len(layouts))], ys, width, label=f"{tool} ({t} thr)",
               color=f"C{k}")
    zs = []
    for c in layouts:
        x = get(S, op, "python3-zarr zstd:1", c, 1)
        zs.append((S / x["secs"]) / limit(S, op, "ockpt zstd:1", c, 2) if x else 0)
    ax.bar([i + len(series) * width for i in range(len(layouts))], zs, width,
           label="python3-zarr zstd:1 (1 thr, of the 2-thread limit)", color="C7")
    ax.axhline(0.8, color="red", linestyle=":", label="0.8 goal")
    ax.set_xticks([i + 0.4 for i in range(len(layouts))])
    ax.set_xticklabels([layout_name(c) for c in layouts])
    ax.set_xlabel("chunk size")
    ax.set_ylabel("fraction of the limit (higher is better)")
    ax.set_title(f"{op}, {S} MiB array (warm page cache)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
ax = axes[2]
labels, vals = [], []
for r in results:
    if r["size"] == S and r["tool"].startswith("ockpt") and r["op"] != "ratio":
        labels.append(f"{r['op']}: {layout_name(r['layout'])} {r['tool'][6:]} ({r['threads']} thr)")
        vals.append(r["rss"])
ax.barh(range(len(vals)), vals, color="C0")
ax.set_yticks(range(len(vals)))
ax.set_yticklabels(labels, fontsize=5)
ax.invert_yaxis()
ax.axvline(256, color="red", linestyle=":", label="256 MiB goal")
ax.set_xlabel("peak RSS (MiB)")
ax.set_title(f"ockpt peak RSS at {S} MiB")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.plot, dpi=110)
print(f"wrote {args.out} and {args.plot} ({elapsed / 60:.1f} min)", file=sys.stderr)
shutil.rmtree(work, ignore_errors=True)
PY
