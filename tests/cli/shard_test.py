#!/usr/bin/python3
"""Issue 17: sharded restore (`restore --mesh ... --spec ... --shard I |
--all-shards`). For golden checkpoints (tests/data/golden, and
../shared/golden where present) and checkpoints written here (zarr2 and
zarr3, many chunks, uneven dimensions, raw-bit dtypes, a PRNG key leaf),
every piece equals NumPy slicing of the full restore at the index that a
separate Python model of JAX/XLA tiling gives (meshes of 1, 2, 4 and 8
devices, specs over one and two axes, axes joined by '+', replicated and
unmatched leaves); `--all-shards` equals `--shard I` run alone; bad meshes
and specs exit 2 and leave no output.

  shard_test.py OCKPT GOLDEN_DIR [SHARED_GOLDEN_DIR]
"""
import itertools, json, os, shutil, subprocess, sys, tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks

OCKPT, GOLDEN = sys.argv[1], sys.argv[2]
SHARED = sys.argv[3] if len(sys.argv) > 3 else None
check = Checks()
tmp = tempfile.mkdtemp(prefix="ockpt-shard-")
counter = itertools.count()


def run(*args):
    p = subprocess.run([OCKPT, "--no-progress", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def fresh(name):
    return os.path.join(tmp, f"{name}-{next(counter)}")


# --- what a restored directory holds --------------------------------------

def load_tree(out):
    """{relative dir: {leaf name: (record, array)}} for every _tree.json under out."""
    trees = {}
    for root, _, files in os.walk(out):
        if "_tree.json" not in files:
            continue
        rel = os.path.relpath(root, out)
        doc = json.load(open(os.path.join(root, "_tree.json")))
        leaves = {}
        for rec in doc["leaves"]:
            if rec.get("dtype") is None or rec.get("shape") is None:
                continue
            path = os.path.join(root, *[k["key"] for k in rec["keypath"]]) + ".npy"
            leaves[rec["name"]] = (rec, np.load(path))
        trees[rel] = leaves
    return trees


# --- the model: jax.sharding.Mesh / PartitionSpec / NamedSharding, XLA tiling

def parse_mesh(text):
    return [(a, int(n)) for a, n in (p.split("=") for p in text.split(","))]


def coords(mesh, device):
    out = []
    for _, size in reversed(mesh):
        out.append(device % size)
        device //= size
    return list(reversed(out))


def expected_index(mesh, spec, shape, device):
    """[[start, stop], ...] of device's piece; spec: list of axis lists or None."""
    index = [[0, n] for n in shape]
    if spec is None:
        return index
    c = dict(zip([a for a, _ in mesh], coords(mesh, device)))
    sizes = dict(mesh)
    for d, axes in enumerate(spec):
        if not axes:
            continue
        k, piece = 1, 0
        for a in axes:
            k *= sizes[a]
            piece = piece * sizes[a] + c[a]
        n = shape[d]
        length = -(-n // k)
        lo = min(piece * length, n)
        index[d] = [lo, min(lo + length, n)]
    return index


def spec_entries(text):
    """'None,x+y' -> [[], ['x', 'y']]"""
    if text == "":
        return []
    return [[] if p == "None" else p.split("+") for p in text.split(",")]


def fits(spec, shape, mesh):
    if len(spec) > len(shape):
        return False
    sizes = dict(mesh)
    for d, axes in enumerate(spec):
        k = 1
        for a in axes:
            k *= sizes[a]
        if k > shape[d] and k > 1:
            return False
    return True


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_shard(label, full, shard_dir, mesh, specs, device):
    """Every piece in shard_dir equals full[index] with the model's index."""
    got = load_tree(shard_dir)
    check(set(got) == set(full), f"{label}: shard {device} holds the items {sorted(got)}, full {sorted(full)}")
    for rel, leaves in full.items():
        pieces = got.get(rel, {})
        check(set(pieces) == set(leaves), f"{label}: shard {device} {rel}: leaves {sorted(pieces)}")
        for name, (frec, farr) in leaves.items():
            if name not in pieces:
                continue
            rec, piece = pieces[name]
            spec = None
            for glob, entries in specs:
                if glob == name:
                    spec = entries
                    break
            want = expected_index(mesh, spec, list(farr.shape), device)
            what = f"{label}: shard {device} leaf {rel}:{name}"
            check(rec.get("global_shape") == list(farr.shape), f"{what}: global_shape {rec.get('global_shape')}")
            check(rec.get("index") == want, f"{what}: index {rec.get('index')}, expected {want}")
            check(rec.get("shape") == [b - a for a, b in want], f"{what}: shape {rec.get('shape')}")
            check(rec.get("dtype") == frec.get("dtype"), f"{what}: dtype {rec.get('dtype')}")
            check(rec.get("ext_metadata") == frec.get("ext_metadata"), f"{what}: ext_metadata")
            expect = farr[tuple(slice(a, b) for a, b in want)]
            check(same_bits(piece, expect), f"{what}: values differ from full[{want}]")


# Meshes of 1, 2, 4 and 8 devices; specs over one and two axes, axes joined
# by '+', None, and the empty (replicated) spec.
COMBOS = [("x=1", ["x"]), ("x=2", ["x", "None,x"]), ("x=4", ["x"]), ("x=8", ["x", ""]),
          ("x=2,y=2", ["x,y", "y+x,None"]), ("x=2,y=4", ["x", "y,x", "x+y"])]
FEW = [("x=2,y=2", ["x,y"]), ("x=8", ["x"])]


def sharding_runs(label, ckpt, full, combos=COMBOS, shard_each=False):
    """Each mesh and template over every leaf it fits (the others unmatched:
    replicated); --all-shards, and --shard I for some devices."""
    names = {}
    for leaves in full.values():
        for name, (_, arr) in leaves.items():
            names[name] = list(arr.shape)
    for mesh_text, templates in combos:
        mesh = parse_mesh(mesh_text)
        axes = {a for a, _ in mesh}
        for tmpl in templates:
            entries = spec_entries(tmpl)
            if any(a not in axes for e in entries for a in e):
                continue
            specs = [(n, entries) for n, shape in sorted(names.items()) if fits(entries, shape, mesh)]
            if tmpl and not specs:
                continue
            args = [a for n, e in specs for a in ("--spec", f"{n}={tmpl}")]
            lab = f"{label} --mesh {mesh_text} spec {tmpl!r}"
            out = fresh("all")
            rc, _, err = run("restore", ckpt, out, "--mesh", mesh_text, "--all-shards", *args)
            if not check(rc == 0, f"{lab} --all-shards: exit {rc}: {err}"):
                continue
            ndev = 1
            for _, n in mesh:
                ndev *= n
            check(sorted(os.listdir(out)) == sorted(f"shard_{i}" for i in range(ndev)),
                  f"{lab}: --all-shards wrote {sorted(os.listdir(out))}")
            for dev in range(ndev):
                check_shard(lab, full, os.path.join(out, f"shard_{dev}"), mesh, specs, dev)
            # --shard I alone writes what --all-shards wrote for I.
            for dev in (range(ndev) if shard_each else sorted({0, ndev - 1})):
                one = fresh("one")
                rc, _, err = run("restore", ckpt, one, "--mesh", mesh_text, "--shard", str(dev), *args)
                if check(rc == 0, f"{lab} --shard {dev}: exit {rc}: {err}"):
                    a, b = load_tree(one), load_tree(os.path.join(out, f"shard_{dev}"))
                    check(a.keys() == b.keys() and all(
                        a[r].keys() == b[r].keys() and all(
                            a[r][n][0] == b[r][n][0] and same_bits(a[r][n][1], b[r][n][1]) for n in a[r])
                        for r in a), f"{lab}: --shard {dev} differs from --all-shards' shard_{dev}")
                    shutil.rmtree(one)
            shutil.rmtree(out)


def full_restore(label, ckpt):
    out = fresh("full")
    rc, _, err = run("restore", ckpt, out)
    if not check(rc == 0, f"{label}: full restore: exit {rc}: {err}"):
        return None
    return load_tree(out)


# --- golden checkpoints ----------------------------------------------------

GOLDEN_CKPTS = [
    "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata",
    "orbax_managed/v1_managed/has_metrics/no_custom_metadata",  # root; zarr3 + sharding_indexed; composite
    "tunix_sft_sharded/checkpoints/1",  # multi-chunk f32, NamedSharding
    "orbax_legacy_aggregate/aggregate_some.checkpoint",  # msgpack inline + zarr dirs
    "t5x_tiny/tiny_t5/checkpoint_1",  # zarr metadata in the msgpack file, a scalar
]

roots = [("golden", GOLDEN)]
if SHARED and os.path.isdir(SHARED):
    roots.append(("shared", SHARED))
else:
    print(f"note: {SHARED} absent; only tests/data/golden's copies are used")
for tag, root in roots:
    for rel in GOLDEN_CKPTS:
        ckpt = os.path.join(root, rel)
        if not os.path.isdir(ckpt):
            check(tag != "golden", f"{ckpt} missing")
            continue
        full = full_restore(f"{tag}:{rel}", ckpt)
        if full:
            sharding_runs(f"{tag}:{rel}", ckpt, full, combos=COMBOS if tag == "golden" else FEW,
                          shard_each=(tag == "golden" and rel.startswith("tunix")))

# --- checkpoints written here: many chunks, uneven dims, raw-bit dtypes ----

src = os.path.join(tmp, "src")
os.makedirs(src)
rng = np.random.default_rng(17)
arrays = {
    "w": ("float32", rng.standard_normal((13, 10)).astype(np.float32)),  # uneven both ways
    "bf": ("bfloat16", rng.integers(0, 2**16, (9, 7), dtype=np.uint16)),  # raw bits
    "f8": ("float8_e4m3fn", rng.integers(0, 256, (10, 6), dtype=np.uint8)),
    # int4 one per byte, sign-extended as TensorStore stores it (raw bits).
    "i4": ("int4", rng.integers(-8, 8, (8, 5)).astype(np.int8).view(np.uint8)),
    "key": ("uint32", rng.integers(0, 2**32, (6, 2), dtype=np.uint32)),  # a PRNG key's data
    "i64": ("int64", np.arange(5 * 16, dtype=np.int64).reshape(5, 16)),
}
records = []
for name, (dtype, arr) in arrays.items():
    np.save(os.path.join(src, name + ".npy"), arr)
    rec = {"keypath": [{"key": name, "type": "dict"}], "name": name, "value_type": "jax.Array",
           "dtype": dtype, "shape": list(arr.shape)}
    if name == "key":
        rec["ext_metadata"] = {"random_key_impl": "threefry2x32"}
    records.append(rec)
json.dump({"leaves": records, "custom_metadata": None}, open(os.path.join(src, "_tree.json"), "w"))

for layout in (["--chunk-shape", "3,4"], ["--zarr3", "--chunk-shape", "4,3"], ["--no-ocdbt", "--chunk-shape", "2,5"]):
    ck = fresh("made")
    rc, _, err = run("save", src, ck, *layout)
    if not check(rc == 0, f"save {layout}: exit {rc}: {err}"):
        continue
    label = f"written {' '.join(layout)}"
    full = full_restore(label, ck)
    if not full:
        continue
    # The full restore is the source, bit for bit (raw-bit dtypes included).
    for name, (_, arr) in arrays.items():
        check(same_bits(full["."][name][1], arr), f"{label}: full restore of {name}")
    sharding_runs(label, ck, full, combos=COMBOS if layout[0] == "--chunk-shape" else FEW,
                  shard_each=(layout[0] == "--chunk-shape"))

    # Globs: the first match wins; '*' crosses dots; a cast applies to pieces.
    out = fresh("glob")
    rc, _, err = run("restore", ck, out, "--mesh", "a=2,b=2", "--spec", "w=b,a", "--spec", "*=a+b",
                     "--spec", "f8=a", "--shard", "3", "--select", "w", "--select", "f8", "--select", "i64")
    if check(rc == 0, f"{label}: globs: exit {rc}: {err}"):
        got = load_tree(out)["."]
        check(set(got) == {"w", "f8", "i64"}, f"{label}: --select with --mesh: {sorted(got)}")
        # device 3 = [a=1, b=1]; w=b,a: rows piece 1 of 2, columns piece 1 of 2.
        check(got["w"][0]["index"] == [[7, 13], [5, 10]], f"{label}: w index {got['w'][0]['index']}")
        # f8 matches '*=a+b' first: piece 3 of 4 of 10 rows = [9, 10).
        check(got["f8"][0]["index"] == [[9, 10], [0, 6]], f"{label}: f8 index {got['f8'][0]['index']}")
        # i64 matches '*=a+b' too: 5 rows in pieces of 2, the 4th empty.
        check(got["i64"][0]["index"] == [[5, 5], [0, 16]], f"{label}: i64 index {got['i64'][0]['index']}")
        check(same_bits(got["w"][1], arrays["w"][1][7:13, 5:10]), f"{label}: w piece values")

    out = fresh("cast")
    rc, _, err = run("restore", ck, out, "--mesh", "x=4", "--spec", "i64=None,x", "--shard", "2",
                     "--select", "i64", "--dtype", "float64")
    if check(rc == 0, f"{label}: --dtype with --shard: exit {rc}: {err}"):
        rec, piece = load_tree(out)["."]["i64"]
        check(piece.dtype == np.float64 and np.array_equal(piece, arrays["i64"][1][:, 8:12].astype(np.float64)),
              f"{label}: cast piece {piece}")

    # --device host: the same pieces, landed through the staging ring.
    out = fresh("dev")
    rc, _, err = run("restore", ck, out, "--mesh", "x=2", "--spec", "*=x", "--shard", "1", "--device", "host")
    if check(rc == 0, f"{label}: --device host --shard 1: exit {rc}: {err}"):
        check("host" in err, f"{label}: --device host reports the staging: {err!r}")
        got = load_tree(out)["."]
        for name, (_, arr) in arrays.items():
            lo = -(-arr.shape[0] // 2)
            check(same_bits(got[name][1], arr[lo:]), f"{label}: --device host piece {name}")

# --- errors: exit 2, nothing written ---------------------------------------

ck = os.path.join(GOLDEN, GOLDEN_CKPTS[0])  # a: int32[8], b.c: int32[3]
for args, why in [
    (["--mesh", "x=4", "--spec", "*=x"], "b.c has 3 elements, split 4 ways"),
    (["--mesh", "x=2", "--spec", "a=x,None"], "spec longer than the rank"),
    (["--mesh", "x=2", "--spec", "*=y"], "not a mesh axis"),
    (["--mesh", "x=2", "--spec", "*=x,x"], "an axis used twice"),
    (["--mesh", "x=2", "--spec", "*=x,,None"], "empty entry"),
    (["--mesh", "x=2", "--spec", "nospec"], "no '='"),
    (["--mesh", "x=0"], "zero-sized axis"),
    (["--mesh", "x"], "no size"),
    (["--mesh", "x=2,x=2"], "duplicate axis"),
    (["--mesh", "x=2", "--shard", "2"], "shard outside the mesh"),
    (["--mesh", "x=2", "--shard", "-1"], "negative shard"),
    (["--mesh", "x=2", "--shard", "0", "--all-shards"], "--shard with --all-shards"),
    (["--spec", "*=x"], "--spec without --mesh"),
    (["--shard", "0"], "--shard without --mesh"),
    (["--all-shards"], "--all-shards without --mesh"),
    (["--mesh", "x=2", "--format", "npz"], "--mesh with --format npz"),
]:
    out = fresh("err")
    rc, _, err = run("restore", ck, out, *args)
    check(rc == 2, f"{why}: {' '.join(args)}: exit {rc} (expected 2): {err}")
    check(not os.path.exists(out), f"{why}: {out} was left behind")
    check(err.strip() != "", f"{why}: no message on stderr")
# A scalar cannot be split (t5x's step is a rank-0 value).
out = fresh("err")
rc, _, err = run("restore", os.path.join(GOLDEN, "t5x_tiny/tiny_t5/checkpoint_1"), out, "--mesh", "x=1", "--spec", "*=x")
check(rc == 2 and "step" in err, f"a spec on a scalar leaf: exit {rc}: {err}")
check(not os.path.exists(out), "a spec on a scalar leaf: output left behind")
# OUT exists: refused (5), as a whole restore.
out = fresh("exists")
os.makedirs(os.path.join(out, "x"))
rc, _, err = run("restore", ck, out, "--mesh", "x=2", "--shard", "0")
check(rc == 5, f"existing OUT: exit {rc}: {err}")
# --mesh alone writes every shard (the --all-shards layout).
out = fresh("default")
rc, _, err = run("restore", ck, out, "--mesh", "x=2", "--spec", "a=x")
check(rc == 0 and sorted(os.listdir(out)) == ["shard_0", "shard_1"], f"--mesh alone: exit {rc}: {err}")

shutil.rmtree(tmp)
check.exit()
