#!/usr/bin/env python3
"""Round trips between real orbax-checkpoint and ockpt (run by scripts/gpu-check.sh).

  orbax_interop.py --ockpt BUILD/apps/ockpt/ockpt --work DIR [--device cpu|host|cuda:0] [--only REGEX]

A. Orbax writes, ockpt reads: StandardCheckpointer (OCDBT + zarr v2), a
   PyTreeCheckpointHandler with use_zarr3=True, and a CheckpointManager root
   with two steps of a composite (a PyTree item and a JSON item). ockpt
   verifies each, restores it (through --device) and the .npy files are
   compared with the values Orbax was given.
B. ockpt writes, Orbax reads: from the .npy directory ockpt restored in A
   (its _tree.json keeps bfloat16 and jax.Array), ockpt saves zarr v2, zarr v3,
   per-leaf directories (no OCDBT), a composite (PyTree + JSON item) and a
   manager root with two steps (the second zarr v3 with metrics), through
   --device; Orbax restores each and the values are compared.

C. ockpt writes, every Orbax entry point reads (issue 12). Trees built in
   Python on jax's CPU device, written as a .npy source with _tree.json
   (write_source: raw bits for bfloat16 / float8 / float4 / int4 / int2, PRNG
   keys as key data + ext_metadata random_key_impl, strings with "value"):
   base (make_tree), dtypes (every dtype ockpt writes that this jax and
   ml_dtypes have; the rest are named in a note), prng (typed threefry keys;
   Orbax must give typed keys back: jax.dtypes.issubdtype(x.dtype,
   jax.dtypes.prng_key)), strings (PyTreeCheckpointHandler only).
   C1-C12: each tree saved by ockpt as zarr2, --zarr3 and --layout v1, read
   with StandardCheckpointer.restore (with a target and without),
   PyTreeCheckpointer.restore, v1 load_pytree (with and without an abstract
   tree), load_checkpointables, pytree_metadata, metadata and
   checkpointables_metadata (v1 on a v0 item
   with checkpointable_name=None; v0 on a v1 item's directory). A call that
   fails on ockpt's checkpoint is run on the same tree written by Orbax
   itself; if it fails there too it is an Orbax limit and only a note.
   C13: a composite (PyTree + JSON item + an opaque custom-handler item that
   ockpt carries) through CompositeCheckpointHandler (StandardRestore and
   PyTreeRestore + JsonRestore), Checkpointer.metadata (the opaque item must
   be listed in item_handlers; Orbax cannot restore it without its handler)
   and v1 load_checkpointables. C14: a --layout v1 composite through v1
   load_checkpointables (with and without abstract) and v1 metadata.
   C15: a manager root with --step/--metrics steps (zarr2, zarr3, every
   dtype) through CheckpointManager all_steps, metrics, metadata(step).metrics,
   restore(StandardRestore) and best_step.
D. Orbax and ockpt write the same tree (D1-D13: StandardCheckpointer,
   PyTreeCheckpointHandler(use_zarr3=True), StandardCheckpointHandler(
   use_ocdbt=False), v1 save_pytree and save_checkpointables,
   CompositeCheckpointHandler, CheckpointManager with metrics; the base,
   dtypes, prng and strings trees), ockpt with the matching flags plus
   --sharding cpu --no-zstd-checksum. Every JSON file (_CHECKPOINT_METADATA
   minus its timestamps, _METADATA, _sharding, array_metadatas/process_0, JSON
   items, metrics, _strings.json, ...) and every .zarray / zarr.json (inside
   OCDBT read with `ockpt ocdbt ls --json` and `ockpt ocdbt cat`) is compared
   field by field; each differing field, file or key present on one side
   only is a problem. Chunk bytes that differ and JSON equal in value but not
   in bytes are notes.

Prints one PASS/FAIL/SKIP line per case (problems and notes indented below
it), then 'N passed, N failed, N skipped'; exit 0 when none failed, 1
otherwise, 77 when jax or orbax.checkpoint cannot be imported. A case that
raises is a FAIL of that case only; a case needing an API this
orbax-checkpoint lacks (no v1 API) is a SKIP with the reason.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import traceback

import numpy as np

if __name__ == "__main__" and ({"-h", "--help"} & set(sys.argv[1:])):
    print(__doc__)  # without jax and orbax too
    sys.exit(0)

try:
    import jax
    import jax.numpy as jnp
except Exception as e:  # noqa: BLE001
    print(f"orbax_interop: jax is not importable ({type(e).__name__}: {e}); skipped")
    sys.exit(77)
try:
    import orbax.checkpoint as ocp
except Exception as e:  # noqa: BLE001
    print(f"orbax_interop: orbax.checkpoint is not importable ({type(e).__name__}: {e}); skipped")
    sys.exit(77)

# float64 and int64 leaves keep their width through jax.Array restores.
jax.config.update("jax_enable_x64", True)


def make_tree():
    rng = np.random.default_rng(0)
    tree = {
        "params": {
            "dense": {
                "kernel": jnp.asarray(rng.standard_normal((64, 48)), dtype=jnp.float32),
                "bias": jnp.asarray(rng.standard_normal((48,)), dtype=jnp.bfloat16),
            },
            "embed": jnp.asarray(rng.standard_normal((32, 16)), dtype=jnp.float16),
            "count": jnp.asarray(rng.integers(-1000, 1000, (5, 3)), dtype=jnp.int32),
        },
        "np": {
            "f64": rng.standard_normal((7, 5)),
            "i8": rng.integers(-128, 127, (9,), dtype=np.int8),
            "i16": rng.integers(-30000, 30000, (4, 4), dtype=np.int16),
            "i64": rng.integers(-(2**40), 2**40, (6,), dtype=np.int64),
            "u8": rng.integers(0, 255, (10,), dtype=np.uint8),
            "u32": rng.integers(0, 2**32 - 1, (3, 2), dtype=np.uint32),
            "b": rng.integers(0, 2, (8,)).astype(np.bool_),
            "c64": (rng.standard_normal((4,)) + 1j * rng.standard_normal((4,))).astype(np.complex64),
        },
        "layers": [
            {"w": rng.standard_normal((3, 3)).astype(np.float32)},
            {"w": rng.standard_normal((3, 3)).astype(np.float32)},
        ],
    }
    return tree


def flatten(tree, prefix=()):
    """(key path tuple of strings, leaf) pairs; list indices become '0', '1'."""
    out = []
    if isinstance(tree, dict):
        for k in sorted(tree):
            out += flatten(tree[k], prefix + (str(k),))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out += flatten(v, prefix + (str(i),))
    else:
        out.append((prefix, tree))
    return out


def as_comparable(a):
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":
        return a.view(np.uint16), "bfloat16"
    return a, a.dtype.name


def same(expected, got):
    e, edt = as_comparable(expected)
    g, gdt = as_comparable(got)
    if e.shape != g.shape:
        return f"shape {g.shape}, expected {e.shape}"
    if edt != gdt and not (edt == "bfloat16" and g.dtype == np.uint16):
        return f"dtype {gdt}, expected {edt}"
    if e.tobytes() != g.astype(e.dtype).tobytes():
        return "values differ"
    return None


def check_npy_dir(out, tree):
    """The .npy files ockpt restored hold the tree's values."""
    problems = []
    for path, leaf in flatten(tree):
        f = os.path.join(out, *path) + ".npy"
        if not os.path.exists(f):
            problems.append(f"{'.'.join(path)}: {f} missing")
            continue
        why = same(leaf, np.load(f))
        if why:
            problems.append(f"{'.'.join(path)}: {why}")
    return problems


def check_tree(restored, tree):
    got = dict(flatten(restored))
    problems = []
    for path, leaf in flatten(tree):
        if path not in got:
            problems.append(f"{'.'.join(path)}: missing from Orbax's restore")
            continue
        why = same(leaf, got[path])
        if why:
            problems.append(f"{'.'.join(path)}: {why}")
    return problems


def abstract(tree):
    dev = jax.devices()[0]
    sharding = jax.sharding.SingleDeviceSharding(dev)
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype, sharding=sharding), tree)


def orbax_restore(path, tree):
    """Restores an item directory with Orbax, trying the usual entry points."""
    errors = []
    attempts = [
        ("StandardCheckpointer.restore(path, abstract)", lambda: ocp.StandardCheckpointer().restore(path, abstract(tree))),
        ("StandardCheckpointer.restore(path)", lambda: ocp.StandardCheckpointer().restore(path)),
        ("PyTreeCheckpointer.restore(path)", lambda: ocp.PyTreeCheckpointer().restore(path)),
    ]
    for name, fn in attempts:
        try:
            return fn(), name
        except Exception as e:  # noqa: BLE001
            errors.append(f"{name}: {type(e).__name__}: {e}")
    raise RuntimeError("Orbax could not restore " + path + ":\n  " + "\n  ".join(errors))


class Skip(Exception):
    """A case that cannot run here (an Orbax API or dtype this install lacks)."""


class Runner:
    def __init__(self, ockpt, work, device, only=None):
        self.only = only
        self.ockpt = ockpt
        self.work = work
        self.device = device
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.notes = []

    def run(self, *args, check=True):
        cmd = [self.ockpt, "--no-progress", *args]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:2000]}")
        return p

    def case(self, name, fn, limit=20):
        """Runs one independent case: PASS, FAIL (with its problems) or SKIP.

        fn returns a list of problems (empty: passed) or raises Skip; notes it
        adds with note() are printed under the case's line whatever the result.
        A case whose name --only does not match is not run.
        """
        if self.only and not re.search(self.only, name):
            return
        self.notes = []
        try:
            problems = fn() or []
        except Skip as e:
            self.skipped += 1
            print(f"SKIP {name}: {e}")
            sys.stdout.flush()
            return
        except Exception as e:  # noqa: BLE001
            problems = [f"{type(e).__name__}: {e}", traceback.format_exc(limit=3)]
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems[:limit]:
                print(f"     {p}")
            if len(problems) > limit:
                print(f"     ... and {len(problems) - limit} more")
        else:
            self.passed += 1
            print(f"PASS {name}")
        for n in self.notes[:limit]:
            print(f"     note: {n}")
        sys.stdout.flush()

    def note(self, text):
        self.notes.append(text)

    def p(self, *parts):
        return os.path.join(self.work, *parts)

# ---------------------------------------------------------------------------
# C and D: every layout, dtype and API (issue 12, item 5).
# ---------------------------------------------------------------------------

CPU = None  # jax's CPU device: the trees of C and D live there.


def v1_api():
    """orbax-checkpoint's v1 API module (ocp.v1, or the older experimental.v1)."""
    mod = getattr(ocp, "v1", None)
    if mod is None:
        try:
            import orbax.checkpoint.experimental.v1 as mod  # noqa: PLC0415
        except Exception as e:  # noqa: BLE001
            raise Skip(f"no v1 API in this orbax-checkpoint ({type(e).__name__}: {e})")
    return mod


def v1_fn(*names):
    """The first of the v1 functions `names` this install has."""
    mod = v1_api()
    for n in names:
        if hasattr(mod, n):
            return getattr(mod, n)
    raise Skip(f"v1 API has none of {', '.join(names)}")


def is_key(x):
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def leaves_with_types(tree, prefix=()):
    """(keypath [(key, 'dict'|'sequence')], leaf) pairs in Orbax's leaf order."""
    out = []
    if isinstance(tree, dict):
        for k in sorted(tree):
            out += leaves_with_types(tree[k], prefix + ((str(k), "dict"),))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out += leaves_with_types(v, prefix + ((str(i), "sequence"),))
    else:
        out.append((prefix, tree))
    return out


def raw_bits(a):
    """A NumPy array ockpt's .npy reader takes for dtype a.dtype (raw bits for
    the types NumPy lacks: bfloat16 as <u2, int4/int2 sign-extended and the
    float8/float4 types as |u1)."""
    name = a.dtype.name
    if name in ("int4", "int2"):
        return a.astype(np.int8).view(np.uint8)
    if name == "bfloat16":
        return a.view(np.uint16)
    if a.dtype.itemsize == 1 and (name.startswith("float8") or name.startswith("float4")):
        return a.view(np.uint8)
    return a


def write_source(path, tree):
    """`tree` as a .npy directory + _tree.json (restore's layout), built from
    the Python values alone: jax.Array leaves keep their value type, PRNG keys
    their key data + ext_metadata random_key_impl, strings their value."""
    os.makedirs(path)
    records = []
    for kp, leaf in leaves_with_types(tree):
        rec = {"keypath": [{"key": k, "type": t} for k, t in kp], "name": ".".join(k for k, _ in kp)}
        if isinstance(leaf, str):
            rec.update(value_type="string", value=leaf)
            records.append(rec)
            continue
        ext = None
        if is_key(leaf):
            ext = {"random_key_impl": str(jax.random.key_impl(leaf))}
            leaf = jax.random.key_data(leaf)
        value_type = "jax.Array" if isinstance(leaf, jax.Array) else "np.ndarray"
        a = np.asarray(leaf)
        f = os.path.join(path, *[k for k, _ in kp]) + ".npy"
        os.makedirs(os.path.dirname(f), exist_ok=True)
        np.save(f, raw_bits(a))
        rec.update(value_type=value_type, dtype=a.dtype.name, shape=list(a.shape))
        if ext:
            rec["ext_metadata"] = ext
        records.append(rec)
    with open(os.path.join(path, "_tree.json"), "w") as f:
        json.dump({"leaves": records, "custom_metadata": None}, f, indent=2)


def leaf_problem(expected, got):
    """Why `got` (from an Orbax restore) is not `expected`, or None."""
    if isinstance(expected, str):
        return None if got == expected else f"string {got!r}, expected {expected!r}"
    if is_key(expected):
        if not is_key(got):
            return (f"not a typed PRNG key: dtype {getattr(got, 'dtype', type(got).__name__)}, "
                    f"shape {getattr(got, 'shape', '?')} (ext_metadata random_key_impl not applied)")
        if str(jax.random.key_impl(got)) != str(jax.random.key_impl(expected)):
            return f"key impl {jax.random.key_impl(got)}, expected {jax.random.key_impl(expected)}"
        expected, got = jax.random.key_data(expected), jax.random.key_data(got)
    e, g = np.asarray(expected), np.asarray(got)
    if e.shape != g.shape:
        return f"shape {g.shape}, expected {e.shape}"
    if e.dtype != g.dtype:
        return f"dtype {g.dtype.name}, expected {e.dtype.name}"
    if e.dtype.name in ("int4", "int2"):
        same_values = np.array_equal(e.astype(np.int8), g.astype(np.int8))
    elif e.dtype.name == "bfloat16" or e.dtype.name.startswith("float8") or e.dtype.name.startswith("float4"):
        ef, gf = e.astype(np.float32), g.astype(np.float32)
        same_values = np.array_equal(ef, gf, equal_nan=True) and np.array_equal(np.signbit(ef), np.signbit(gf))
    else:
        same_values = e.tobytes() == g.tobytes()
    return None if same_values else "values differ"


def tree_problems(restored, tree, what):
    got = dict(leaves_with_types(restored))
    got = {tuple(k for k, _ in kp): v for kp, v in got.items()}
    problems = []
    for kp, leaf in leaves_with_types(tree):
        path = tuple(k for k, _ in kp)
        if path not in got:
            problems.append(f"{what}: {'.'.join(path)} missing (restored keys: {sorted('.'.join(p) for p in got)[:8]})")
            continue
        why = leaf_problem(leaf, got[path])
        if why:
            problems.append(f"{what}: {'.'.join(path)}: {why}")
    return problems


def metadata_tree(md):
    """The PyTree of leaf metadata inside whatever a metadata call returned."""
    for attr in ("metadata", "item_metadata", "tree"):
        if hasattr(md, attr) and getattr(md, attr) is not None and not callable(getattr(md, attr)):
            return metadata_tree(getattr(md, attr))
    return md


def metadata_problems(md, tree, what):
    got = {tuple(k for k, _ in kp): v for kp, v in leaves_with_types(metadata_tree(md))}
    problems = []
    for kp, leaf in leaves_with_types(tree):
        path = tuple(k for k, _ in kp)
        m = got.get(path)
        if m is None:
            problems.append(f"{what}: {'.'.join(path)} missing from the metadata (has {sorted('.'.join(p) for p in got)[:8]})")
            continue
        if isinstance(leaf, str):
            continue
        shape = tuple(getattr(m, "shape", ()) or ())
        want_shapes = [tuple(np.shape(leaf))]
        if is_key(leaf):  # a typed key's metadata may give the key data's shape
            want_shapes.append(tuple(jax.random.key_data(leaf).shape))
        if shape not in want_shapes:
            problems.append(f"{what}: {'.'.join(path)}: metadata shape {shape}, expected {want_shapes[0]}")
        dt = getattr(m, "dtype", None)
        want = leaf.dtype if is_key(leaf) else np.asarray(leaf).dtype
        if dt is not None and not is_key(leaf) and np.dtype(dt) != want:
            problems.append(f"{what}: {'.'.join(path)}: metadata dtype {dt}, expected {want}")
    return problems


def abstract_of(tree):
    """jax.ShapeDtypeStruct target for every array leaf (typed keys included)."""
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def one(x):
        if isinstance(x, str):
            return x
        if is_key(x) or isinstance(x, jax.Array):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)
        a = np.asarray(x)
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)
    return jax.tree_util.tree_map(one, tree)


def try_restores(r, attempts, tree, path, reference=None):
    """Runs each (name, fn(path), check) restore on ockpt's checkpoint at path.

    Every restore that raises or gives other values is a problem, unless the
    same call also fails on `reference()`, the same tree written by Orbax
    itself: then it is an Orbax limit, not ockpt's, and becomes a note."""
    problems = []
    ref = {}
    worked = ran = 0

    def reference_fails(fn, check):
        if reference is None:
            return None
        if "path" not in ref:
            try:
                ref["path"] = reference()
            except Exception as e:  # noqa: BLE001
                ref["path"] = None
                r.note(f"Orbax could not write the same tree for comparison: {type(e).__name__}: {str(e)[:300]}")
        if ref["path"] is None:
            return None
        try:
            out = fn(ref["path"])
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {str(e)[:300]}"
        bad = (check or tree_problems)(out, tree, "")
        return "; ".join(bad)[:300] if bad else None

    for name, fn, check in attempts:
        try:
            out = fn(path)
            bad = (check or tree_problems)(out, tree, name)
        except Skip as e:
            r.note(f"{name}: not run ({e})")
            continue
        except Exception as e:  # noqa: BLE001
            bad = [f"{name}: {type(e).__name__}: {str(e)[:600]}"]
        ran += 1
        if bad:
            why = reference_fails(fn, check)
            if why:
                r.note(f"{name} fails on Orbax's own checkpoint too ({why}); on ockpt's: {bad[0][:300]}")
                continue
        else:
            worked += 1
        problems += bad
    if ran and not worked and not problems:
        problems.append("no Orbax entry point read this checkpoint, nor Orbax's own (see the notes)")
    return problems


def item_restores(tree, strings=False):
    """The v0 entry points for an item directory, and v1's pointed at it."""
    attempts = []
    if not strings:  # StandardCheckpointHandler refuses string leaves by design
        attempts += [
            ("StandardCheckpointer.restore(path, target)",
             lambda p: ocp.StandardCheckpointer().restore(p, abstract_of(tree)), None),
            ("StandardCheckpointer.restore(path)", lambda p: ocp.StandardCheckpointer().restore(p), None),
        ]
    attempts += [("PyTreeCheckpointer.restore(path)", lambda p: ocp.PyTreeCheckpointer().restore(p), None)]
    attempts += [
        ("v1.load_pytree(path, checkpointable_name=None)",
         lambda p: v1_fn("load_pytree", "load")(p, checkpointable_name=None), None),
        ("v1.pytree_metadata(path, checkpointable_name=None)",
         lambda p: v1_fn("pytree_metadata")(p, checkpointable_name=None), metadata_problems),
    ]
    return attempts


def v1_tree_metadata(path, name):
    """v1 `metadata` for the checkpointable `name`: recent releases take
    checkpointable_name and return that PyTree's metadata; a release whose
    `metadata` takes only the path returns every checkpointable's."""
    fn = v1_fn("metadata")
    try:
        return fn(path, checkpointable_name=name)
    except TypeError:
        md = fn(path)
        got = getattr(md, "metadata", md)
        return got[name] if isinstance(got, dict) and name in got else md


def v1_restores(tree, name="pytree", strings=False):
    """The v1 entry points for a v1 checkpoint holding the tree as `name`, and
    v0's pointed at its item directory."""
    attempts = [
        ("v1.load_pytree(path)", lambda p: v1_fn("load_pytree", "load")(p, checkpointable_name=name), None),
        ("v1.load_checkpointables(path)", lambda p: v1_fn("load_checkpointables")(p)[name], None),
        ("v1.pytree_metadata(path)", lambda p: v1_fn("pytree_metadata")(p, checkpointable_name=name), metadata_problems),
        ("v1.metadata(path, checkpointable_name)", lambda p: v1_tree_metadata(p, name), metadata_problems),
        ("v1.checkpointables_metadata(path)",
         lambda p: v1_fn("checkpointables_metadata")(p).metadata[name], metadata_problems),
    ]
    if not strings:
        attempts += [
            ("v1.load_pytree(path, abstract)",
             lambda p: v1_fn("load_pytree", "load")(p, abstract_of(tree), checkpointable_name=name), None),
            (f"StandardCheckpointer.restore(path/{name}, target)",
             lambda p: ocp.StandardCheckpointer().restore(os.path.join(p, name), abstract_of(tree)), None),
        ]
    attempts.append((f"PyTreeCheckpointer.restore(path/{name})",
                     lambda p: ocp.PyTreeCheckpointer().restore(os.path.join(p, name)), None))
    return attempts


# The dtypes ockpt writes (docs/format/orbax.md); those this jax/ml_dtypes lacks are left out.
PLAIN_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"]
RAW_DTYPES = ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2",
              "float8_e5m2fnuz", "float8_e3m4", "float8_e8m0fnu", "float4_e2m1fn", "int4", "int2"]


def dtype_tree():
    """{"dtypes": {name: jax.Array}} for every dtype this install has, and the missing names."""
    import ml_dtypes  # noqa: PLC0415 (jax depends on it)
    rng = np.random.default_rng(5)
    shape = (6, 5)
    leaves, missing = {}, []
    for name in PLAIN_DTYPES + RAW_DTYPES:
        try:
            dt = np.dtype(getattr(ml_dtypes, name)) if name in RAW_DTYPES else np.dtype(name)
            if name == "bool":
                a = rng.integers(0, 2, shape).astype(dt)
            elif name in ("int4", "int2"):
                lim = 8 if name == "int4" else 2
                a = rng.integers(-lim, lim, shape).astype(np.int8).astype(dt)
            elif dt.kind in "iu":
                info = np.iinfo(dt)
                a = rng.integers(max(info.min, -(2**40)), min(info.max, 2**40), shape).astype(dt)
            elif dt.kind == "c":
                a = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
            elif name == "float8_e8m0fnu":
                a = (2.0 ** rng.integers(-10, 10, shape)).astype(np.float32).astype(dt)
            else:
                a = (rng.standard_normal(shape) * 2).astype(np.float32).astype(dt)
            leaves[name] = jax.device_put(a, CPU)
            if np.asarray(leaves[name]).dtype != dt:
                raise TypeError(f"jax gives {np.asarray(leaves[name]).dtype}")
        except Exception as e:  # noqa: BLE001
            leaves.pop(name, None)
            missing.append(f"{name} ({type(e).__name__})")
    return {"dtypes": leaves}, missing


def key_tree():
    keys = jax.device_put(jax.random.split(jax.random.key(0), 4), CPU)
    w = jax.device_put(np.arange(12, dtype=np.float32).reshape(3, 4), CPU)
    return {"rng": {"key": keys}, "w": w}


def string_tree():
    return {"name": "hello", "cfg": {"mode": "train ü"},
            "w": jax.device_put(np.arange(6, dtype=np.float32), CPU)}


def base_tree():
    """make_tree() with its jax.Array leaves on the CPU device."""
    t = make_tree()
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, CPU) if isinstance(x, jax.Array) else x, t)


# ---- D: diff Orbax's files against ockpt's ----

TIMESTAMPS = ("init_timestamp_nsecs", "commit_timestamp_nsecs")


def json_diff(a, b, where, out):
    """Appends 'where: orbax X, ockpt Y' for each differing field of a and b."""
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:  # _sharding values and value_metadata_tree are JSON inside strings
            ja, jb = json.loads(a), json.loads(b)
            if isinstance(ja, (dict, list)) and isinstance(jb, (dict, list)):
                json_diff(ja, jb, where + " (JSON string)", out)
                return
        except ValueError:
            pass
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in b:
                out.append(f"{where}.{k}: only Orbax writes it: {json.dumps(a[k])[:200]}")
            elif k not in a:
                out.append(f"{where}.{k}: only ockpt writes it: {json.dumps(b[k])[:200]}")
            else:
                json_diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            json_diff(x, y, f"{where}[{i}]", out)
    elif a != b or type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        out.append(f"{where}: Orbax {json.dumps(a)[:200]}, ockpt {json.dumps(b)[:200]}")


def load_json_bytes(data):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def is_zarr_meta(key):
    return os.path.basename(key) in (".zarray", ".zattrs", ".zgroup", "zarr.json")


class Differ:
    """Compares a checkpoint tree Orbax wrote with the one ockpt wrote."""

    def __init__(self, r):
        self.r = r

    def files(self, top):
        """{relative path: absolute path} outside OCDBT databases, and the databases."""
        files, dbs = {}, []
        for root, dirs, names in os.walk(top):
            rel = os.path.relpath(root, top)
            rel = "" if rel == "." else rel
            if "manifest.ocdbt" in names and not os.path.basename(root).startswith("ocdbt.process_"):
                dbs.append(rel)
            if "manifest.ocdbt" in names:
                dirs[:] = [d for d in dirs if d != "d" and not d.startswith("ocdbt.process_")]
                names = [n for n in names if n != "manifest.ocdbt"]
            dirs.sort()
            for n in names:
                files[os.path.join(rel, n)] = os.path.join(root, n)
        return files, dbs

    def ocdbt_keys(self, db):
        p = self.r.run("ocdbt", "ls", db, "--json", "--sha256", check=False)
        if p.returncode != 0:
            p = self.r.run("ocdbt", "ls", db, "--json")
        return {k.get("key", k.get("key_base64")): k.get("sha256") for k in json.loads(p.stdout)["keys"]}

    def cat(self, db, key):
        p = subprocess.run([self.r.ockpt, "--no-progress", "ocdbt", "cat", db, key], capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"ockpt ocdbt cat {db} {key}: exit {p.returncode}: {p.stderr.decode()[:500]}")
        return p.stdout

    def compare_doc(self, where, a_bytes, b_bytes, problems):
        a, b = load_json_bytes(a_bytes), load_json_bytes(b_bytes)
        if a is None or b is None:
            if a_bytes != b_bytes:
                self.r.note(f"{where}: not JSON on {'both sides' if a is None and b is None else 'one side'}; bytes differ")
            return
        if os.path.basename(where) in ("_CHECKPOINT_METADATA",) and isinstance(a, dict) and isinstance(b, dict):
            for t in TIMESTAMPS:
                a.pop(t, None), b.pop(t, None)
        before = len(problems)
        json_diff(a, b, where, problems)
        if len(problems) == before and a_bytes != b_bytes and os.path.basename(where) != "_CHECKPOINT_METADATA":
            self.r.note(f"{where}: equal as JSON, bytes differ (formatting or member order)")

    def diff(self, orbax_dir, ockpt_dir, expected=()):
        """Every differing field; those matching an `expected` prefix become notes."""
        problems = []
        fa, dba = self.files(orbax_dir)
        fb, dbb = self.files(ockpt_dir)
        for rel in sorted(set(fa) | set(fb)):
            if rel not in fb:
                problems.append(f"{rel}: only Orbax writes this file")
                continue
            if rel not in fa:
                problems.append(f"{rel}: only ockpt writes this file")
                continue
            if os.path.basename(rel) == "commit_success.txt":
                continue  # names the absolute path it was written to
            with open(fa[rel], "rb") as f:
                a = f.read()
            with open(fb[rel], "rb") as f:
                b = f.read()
            if load_json_bytes(a) is None and load_json_bytes(b) is None and not is_zarr_meta(rel) and rel != "orbax.checkpoint":
                if a != b:  # a chunk of a per-leaf array
                    self.r.note(f"{rel}: chunk bytes differ")
                continue
            self.compare_doc(rel, a, b, problems)
        for db in sorted(set(dba) | set(dbb)):
            if db not in dbb or db not in dba:
                problems.append(f"{db or '.'}: OCDBT database only in {'Orbax' if db in dba else 'ockpt'}'s checkpoint")
                continue
            da, db_ = os.path.join(orbax_dir, db), os.path.join(ockpt_dir, db)
            ka, kb = self.ocdbt_keys(da), self.ocdbt_keys(db_)
            for k in sorted(set(ka) | set(kb), key=str):
                where = f"{db + '/' if db else ''}ocdbt:{k}"
                if k not in kb:
                    problems.append(f"{where}: only Orbax writes this key")
                elif k not in ka:
                    problems.append(f"{where}: only ockpt writes this key")
                elif is_zarr_meta(k):
                    self.compare_doc(where, self.cat(da, k), self.cat(db_, k), problems)
                elif ka[k] and kb[k] and ka[k] != kb[k]:
                    self.r.note(f"{where}: value bytes differ (chunk)")
        real = []
        for p in problems:
            if any(p.startswith(e) for e in expected):
                self.r.note(f"expected: {p}")
            else:
                real.append(p)
        return real


def new_cases(r, args):
    """Cases C (ockpt writes every layout, dtype and item kind; every Orbax API
    reads) and D (Orbax and ockpt write the same trees; the files are diffed)."""
    global CPU
    try:
        CPU = jax.devices("cpu")[0]
    except Exception:  # noqa: BLE001
        CPU = jax.devices()[0]
    differ = Differ(r)
    meta = {"version": 3, "note": "interop"}
    meta_file = r.p("C_meta.json")
    with open(meta_file, "w") as f:
        json.dump(meta, f)

    trees = {}

    def source(name, make):
        """The tree `make()` builds and its .npy source directory (built once)."""
        if name not in trees:
            tree = make()
            missing = []
            if isinstance(tree, tuple):
                tree, missing = tree
            path = r.p(f"src_{name}")
            shutil.rmtree(path, ignore_errors=True)
            write_source(path, tree)
            trees[name] = (tree, path, missing)
        tree, path, missing = trees[name]
        if missing:
            r.note(f"dtypes this jax/ml_dtypes lacks, left out: {', '.join(missing)}")
        return tree, path

    def save(src, dest, *flags):
        shutil.rmtree(dest, ignore_errors=True)
        r.run("save", src, dest, "--device", args.device, *flags)
        return dest

    # How Orbax writes each layout ockpt writes (for the reference checkpoints
    # and the D cases). Handlers are made when used: an install may lack one.
    def orbax_std(tree, path):
        ck = ocp.StandardCheckpointer()
        ck.save(path, tree)
        ck.wait_until_finished()
        ck.close()

    def orbax_handler(make_handler, save_args):
        def fn(tree, path):
            try:
                handler = make_handler()
            except TypeError as e:  # an option this orbax-checkpoint lacks
                raise Skip(f"this orbax-checkpoint cannot make the handler: {e}")
            ck = ocp.Checkpointer(handler)
            ck.save(path, args=save_args(tree))
            ck.close()
        return fn

    def orbax_v1_pytree(tree, path):
        v1_fn("save_pytree", "save")(path, tree)

    pytree_v0 = orbax_handler(lambda: ocp.PyTreeCheckpointHandler(), lambda t: ocp.args.PyTreeSave(t))
    pytree_zarr3 = orbax_handler(lambda: ocp.PyTreeCheckpointHandler(use_zarr3=True), lambda t: ocp.args.PyTreeSave(t))
    std_no_ocdbt = orbax_handler(lambda: ocp.StandardCheckpointHandler(use_ocdbt=False),
                                 lambda t: ocp.args.StandardSave(t))

    def orbax_composite(tree, path):
        ck = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
        ck.save(path, args=ocp.args.Composite(state=ocp.args.PyTreeSave(tree), meta=ocp.args.JsonSave(meta)))
        ck.close()

    # ---- C. ockpt writes each layout; StandardCheckpointer, PyTreeCheckpointer,
    # CheckpointManager and the v1 API read it ----
    LAYOUTS = {"zarr2": (), "zarr3": ("--zarr3",), "v1": ("--layout", "v1")}

    def c_layout(tree_name, make, layout, strings=False):
        def fn():
            tree, src = source(tree_name, make)
            path = save(src, r.p(f"C_{tree_name}_{layout}"), *LAYOUTS[layout])
            if layout == "v1":
                writer = orbax_v1_pytree
            elif layout == "zarr3":
                writer = pytree_zarr3
            else:
                writer = pytree_v0 if strings else orbax_std

            def reference():
                ref = r.p(f"C_{tree_name}_{layout}_orbax")
                shutil.rmtree(ref, ignore_errors=True)
                writer(tree, ref)
                return ref
            attempts = (v1_restores(tree, strings=strings) if layout == "v1"
                        else item_restores(tree, strings=strings))
            return try_restores(r, attempts, tree, path, reference)
        return fn

    n = 0
    for tree_name, make, strings in (("base", base_tree, False), ("dtypes", dtype_tree, False),
                                     ("prng", key_tree, False), ("strings", string_tree, True)):
        for layout in LAYOUTS:
            n += 1
            r.case(f"C{n} {tree_name} tree: ockpt save ({layout}) -> Orbax v0 + v1 restores and metadata",
                   c_layout(tree_name, make, layout, strings))

    def c_composite_v0():
        tree, src = source("base", base_tree)
        comp = r.p("C_comp_src")
        shutil.rmtree(comp, ignore_errors=True)
        r.run("save", comp, "--item", f"state={src}", "--json-item", f"meta={meta_file}")
        # An opaque item as a custom handler leaves it; ockpt carries it (issue 12).
        os.makedirs(os.path.join(comp, "baz"))
        with open(os.path.join(comp, "baz", "foo.txt"), "wb") as f:
            f.write(b"opaque \x00\xff")
        cm_path = os.path.join(comp, "_CHECKPOINT_METADATA")
        with open(cm_path) as f:
            cm = json.load(f)
        cm["item_handlers"]["baz"] = "my_project.handlers.BazHandler"
        with open(cm_path, "w") as f:
            json.dump(cm, f)
        path = save(comp, r.p("C_comp"))
        problems = []
        ck = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
        try:
            for how, state_args in (("StandardRestore", lambda: ocp.args.StandardRestore(abstract_of(tree))),
                                    ("PyTreeRestore", lambda: ocp.args.PyTreeRestore())):
                try:
                    got = ck.restore(path, args=ocp.args.Composite(state=state_args(), meta=ocp.args.JsonRestore()))
                    problems += tree_problems(got["state"], tree, f"Composite(state={how})")
                    if got["meta"] != meta:
                        problems.append(f"Composite JSON item: {got['meta']}")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"Composite(state={how}, meta=JsonRestore): {type(e).__name__}: {str(e)[:600]}")
            try:
                md = ck.metadata(path)
                handlers = getattr(md, "item_handlers", None) or {}
                if handlers.get("baz") != "my_project.handlers.BazHandler":
                    problems.append(f"Checkpointer.metadata item_handlers does not list the opaque item: {handlers}")
                else:
                    r.note("opaque item 'baz' listed by Checkpointer(CompositeCheckpointHandler).metadata; "
                           "Orbax cannot restore it without its handler")
            except Exception as e:  # noqa: BLE001
                problems.append(f"Checkpointer.metadata: {type(e).__name__}: {str(e)[:600]}")
        finally:
            try:
                ck.close()
            except Exception:  # noqa: BLE001
                pass

        def check_both(got, t, what):
            bad = tree_problems(got["state"], t, what)
            return bad + ([] if got.get("meta") == meta else [f"{what}: JSON item {got.get('meta')}"])

        def reference():
            ref = r.p("C_comp_orbax")
            shutil.rmtree(ref, ignore_errors=True)
            orbax_composite(tree, ref)
            return ref
        problems += try_restores(r, [("v1.load_checkpointables(v0 composite, {state, meta})",
                                      lambda p: v1_fn("load_checkpointables")(p, {"state": None, "meta": None}),
                                      check_both)], tree, path, reference)
        return problems

    def c_composite_v1():
        tree, src = source("base", base_tree)
        path = r.p("C_comp_v1")
        shutil.rmtree(path, ignore_errors=True)
        r.run("save", path, "--item", f"state={src}", "--json-item", f"meta={meta_file}", "--layout", "v1")
        problems = []
        load = v1_fn("load_checkpointables")
        for how, abstract in (("no abstract", None), ("abstract", {"state": abstract_of(tree), "meta": None})):
            try:
                got = load(path, abstract) if abstract else load(path)
                problems += tree_problems(got["state"], tree, f"v1.load_checkpointables ({how})")
                if got.get("meta") != meta:
                    problems.append(f"v1.load_checkpointables ({how}) JSON item: {got.get('meta')}")
            except Exception as e:  # noqa: BLE001
                problems.append(f"v1.load_checkpointables ({how}): {type(e).__name__}: {str(e)[:600]}")
        try:
            md = v1_fn("checkpointables_metadata", "metadata")(path).metadata
            if not {"meta", "state"} <= set(md):
                problems.append(f"v1 metadata lists {sorted(md)}, without meta and state")
            elif set(md) != {"meta", "state"}:
                r.note(f"v1 metadata also lists {sorted(set(md) - {'meta', 'state'})}")
            problems += metadata_problems(md["state"], tree, "v1 metadata state")
        except Exception as e:  # noqa: BLE001
            problems.append(f"v1 metadata: {type(e).__name__}: {str(e)[:600]}")
        problems += try_restores(r, [("StandardCheckpointer.restore(path/state, target)",
                                      lambda p: ocp.StandardCheckpointer().restore(os.path.join(p, "state"),
                                                                                   abstract_of(tree)), None)],
                                 tree, path)
        return problems

    def c_manager():
        tree, src = source("base", base_tree)
        root = r.p("C_root")
        shutil.rmtree(root, ignore_errors=True)
        r.run("save", src, root, "--step", "1", "--metrics", '{"loss": 0.75}')
        r.run("save", src, root, "--step", "2", "--zarr3", "--metrics", '{"loss": 0.5}')
        steps = [(1, 0.75, tree), (2, 0.5, tree)]
        try:
            dtree, dsrc = source("dtypes", dtype_tree)
            r.run("save", dsrc, root, "--step", "3", "--metrics", '{"loss": 0.625}')
            steps.append((3, 0.625, dtree))
        except Exception as e:  # noqa: BLE001
            r.note(f"no step 3 (every dtype): {type(e).__name__}: {str(e)[:300]}")
        problems = []
        opts = ocp.CheckpointManagerOptions(best_fn=lambda m: m["loss"], best_mode="min",
                                            enable_async_checkpointing=False)
        with ocp.CheckpointManager(root, options=opts) as mngr:
            want = [s for s, _, _ in steps]
            if list(mngr.all_steps()) != want or mngr.latest_step() != want[-1]:
                problems.append(f"steps {list(mngr.all_steps())}, latest {mngr.latest_step()}, expected {want}")
            for step, loss, t in steps:
                try:
                    m = mngr.metrics(step)
                    if m != {"loss": loss}:
                        problems.append(f"step {step}: CheckpointManager.metrics {m}")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"step {step}: CheckpointManager.metrics: {type(e).__name__}: {e}")
                try:
                    sm = mngr.metadata(step)
                    if getattr(sm, "metrics", None) != {"loss": loss}:
                        problems.append(f"step {step}: metadata(step).metrics {getattr(sm, 'metrics', None)}")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"step {step}: CheckpointManager.metadata: {type(e).__name__}: {e}")
                try:
                    got = mngr.restore(step, args=ocp.args.StandardRestore(abstract_of(t)))
                    problems += tree_problems(got, t, f"step {step} restore(StandardRestore)")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"step {step} restore(StandardRestore): {type(e).__name__}: {str(e)[:600]}")
            best = getattr(mngr, "best_step", None)
            if callable(best) and best() != 2:
                problems.append(f"best_step {best()}, expected 2 (lowest loss)")
        return problems

    r.case(f"C{n + 1} composite (PyTree + JSON + opaque item) -> CompositeCheckpointHandler, metadata, "
           "v1.load_checkpointables", c_composite_v0)
    r.case(f"C{n + 2} composite --layout v1 -> v1.load_checkpointables, v1 metadata", c_composite_v1)
    r.case(f"C{n + 3} manager root --step --metrics (zarr2, zarr3, every dtype) -> CheckpointManager "
           "metrics/metadata/restore", c_manager)

    # ---- D. Orbax and ockpt write the same tree; every JSON file, .zarray and
    # zarr.json compared field by field (timestamps aside) ----
    def orbax_v1_composite(tree, path):
        v1_fn("save_checkpointables")(path, {"state": tree, "meta": meta})

    def orbax_manager(tree, root):
        opts = ocp.CheckpointManagerOptions(best_fn=lambda m: m["loss"], best_mode="min",
                                            enable_async_checkpointing=False)
        with ocp.CheckpointManager(root, options=opts) as mngr:
            mngr.save(1, args=ocp.args.StandardSave(tree), metrics={"loss": 0.5})
            mngr.wait_until_finished()

    HANDLERS = "_CHECKPOINT_METADATA.item_handlers"

    def d_case(tag, tree_name, make, orbax_save, ockpt_args, expected=()):
        def fn():
            tree, src = source(tree_name, make)
            a, b = r.p(f"{tag}_orbax"), r.p(f"{tag}_ockpt")
            shutil.rmtree(a, ignore_errors=True)
            shutil.rmtree(b, ignore_errors=True)
            orbax_save(tree, a)
            flags = [x.replace("{src}", src).replace("{meta}", meta_file) for x in ockpt_args]
            if "--item" in flags:
                r.run("save", b, *flags, "--sharding", "cpu", "--no-zstd-checksum")
            else:
                r.run("save", src, b, *flags, "--sharding", "cpu", "--no-zstd-checksum")
            return differ.diff(a, b, expected)
        return fn

    D = [
        ("D1 base: StandardCheckpointer vs ockpt save (OCDBT, zarr2)", "base", base_tree, orbax_std, [], ()),
        ("D2 base: PyTreeCheckpointHandler(use_zarr3=True) vs ockpt save --zarr3", "base", base_tree, pytree_zarr3,
         ["--zarr3"], (HANDLERS,)),
        ("D3 base: StandardCheckpointHandler(use_ocdbt=False) vs ockpt save --no-ocdbt", "base", base_tree, std_no_ocdbt,
         ["--no-ocdbt"], ()),
        ("D4 base: v1 save_pytree vs ockpt save --layout v1", "base", base_tree, orbax_v1_pytree, ["--layout", "v1"], ()),
        ("D5 composite: v1 save_checkpointables vs ockpt save --item --json-item --layout v1", "base", base_tree,
         orbax_v1_composite, ["--item", "state={src}", "--json-item", "meta={meta}", "--layout", "v1"], ()),
        ("D6 composite: CompositeCheckpointHandler (PyTreeSave + JsonSave) vs ockpt save --item --json-item", "base",
         base_tree, orbax_composite, ["--item", "state={src}", "--json-item", "meta={meta}"], ()),
        ("D7 manager: CheckpointManager.save(1, metrics) vs ockpt save --step 1 --metrics", "base", base_tree,
         orbax_manager, ["--step", "1", "--metrics", '{"loss": 0.5}'], ()),
        ("D8 dtypes: StandardCheckpointer vs ockpt save (every dtype)", "dtypes", dtype_tree, orbax_std, [], ()),
        ("D9 dtypes: v1 save_pytree vs ockpt save --layout v1 (every dtype)", "dtypes", dtype_tree, orbax_v1_pytree,
         ["--layout", "v1"], ()),
        ("D10 prng: StandardCheckpointer (typed keys) vs ockpt save (ext_metadata)", "prng", key_tree, orbax_std, [], ()),
        ("D11 prng: v1 save_pytree (typed keys) vs ockpt save --layout v1", "prng", key_tree, orbax_v1_pytree,
         ["--layout", "v1"], ()),
        ("D12 strings: PyTreeCheckpointer vs ockpt save (string leaves)", "strings", string_tree, pytree_v0, [], ()),
        ("D13 strings: v1 save_pytree vs ockpt save --layout v1 (string leaves)", "strings", string_tree, orbax_v1_pytree,
         ["--layout", "v1"], ()),
    ]
    for name, tree_name, make, orbax_save, ockpt_args, expected in D:
        r.case(name, d_case(name.split()[0], tree_name, make, orbax_save, ockpt_args, expected), limit=60)



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ockpt", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--device", default="cpu", help="--device for ockpt restore and save (cpu, host, cuda:0)")
    ap.add_argument("--only", metavar="REGEX",
                    help="run only the cases whose name matches (e.g. '^(C|D)'; B1-B8 need A1's output)")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    r = Runner(os.path.abspath(args.ockpt), os.path.abspath(args.work), args.device, args.only)
    tree = make_tree()
    state_tree = {"params": tree["params"], "layers": tree["layers"]}
    meta = {"version": 3, "note": "interop"}
    print(f"orbax_interop: orbax-checkpoint {getattr(ocp, '__version__', '?')}, jax {jax.__version__}, "
          f"devices {[str(d) for d in jax.devices()]}, ockpt --device {args.device}")

    # ---- A. Orbax writes, ockpt reads ----
    def a_standard():
        path = r.p("A_standard")
        ck = ocp.StandardCheckpointer()
        ck.save(path, tree)
        ck.wait_until_finished()
        r.run("verify", path)
        r.run("restore", path, r.p("A_standard.out"), "--device", args.device)
        return check_npy_dir(r.p("A_standard.out"), tree)

    def a_zarr3():
        path = r.p("A_zarr3")
        ck = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_zarr3=True))
        ck.save(path, args=ocp.args.PyTreeSave(tree))
        md = json.loads(r.run("metadata", path, "--json").stdout)
        item = next(iter(md["items"].values()))
        problems = [] if item.get("zarr_format") == 3 else [f"metadata says zarr_format {item.get('zarr_format')}"]
        r.run("restore", path, r.p("A_zarr3.out"), "--device", args.device)
        return problems + check_npy_dir(r.p("A_zarr3.out"), tree)

    def a_manager():
        root = r.p("A_root")
        opts = ocp.CheckpointManagerOptions(max_to_keep=5, enable_async_checkpointing=False)
        with ocp.CheckpointManager(root, options=opts, item_names=("state", "meta")) as mngr:
            for step in (1, 2):
                mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state_tree),
                                                        meta=ocp.args.JsonSave(dict(meta, step=step))))
            mngr.wait_until_finished()
        steps = json.loads(r.run("ls-steps", root, "--json").stdout)
        problems = []
        if [s["step"] for s in steps["steps"]] != [1, 2] or steps.get("latest_step") != 2:
            problems.append(f"ls-steps: {steps}")
        r.run("verify", os.path.join(root, "2"))
        out = r.p("A_root.out")
        r.run("restore", root, out, "--step", "1", "--device", args.device)
        problems += check_npy_dir(os.path.join(out, "state"), state_tree)
        with open(os.path.join(out, "meta.json")) as f:
            got = json.load(f)
        if got != dict(meta, step=1):
            problems.append(f"meta.json {got}")
        return problems

    r.case("A1 Orbax StandardCheckpointer (OCDBT, zarr2) -> ockpt verify + restore", a_standard)
    r.case("A2 Orbax PyTreeCheckpointHandler(use_zarr3=True) -> ockpt restore", a_zarr3)
    r.case("A3 Orbax CheckpointManager composite steps -> ockpt ls-steps + restore --step", a_manager)

    # ---- B. ockpt writes, Orbax reads ----
    src = r.p("A_standard.out")  # .npy directory + _tree.json (bfloat16, jax.Array kept)
    meta_file = r.p("meta.json")
    with open(meta_file, "w") as f:
        json.dump(meta, f)

    def b_item(name, *flags):
        def fn():
            path = r.p(name)
            r.run("save", src, path, "--device", args.device, *flags)
            restored, how = orbax_restore(path, tree)
            return check_tree(restored, tree)
        return fn

    def b_composite():
        path = r.p("B_composite")
        r.run("save", path, "--item", f"state={src}", "--json-item", f"meta={meta_file}", "--device", args.device)
        problems = []
        ck = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
        try:
            restored = ck.restore(path, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract(tree)),
                                                                meta=ocp.args.JsonRestore()))
        finally:
            if hasattr(ck, "close"):
                ck.close()
        problems += check_tree(restored["state"], tree)
        if restored["meta"] != meta:
            problems.append(f"JSON item: {restored['meta']}")
        return problems

    def b_manager():
        root = r.p("B_root")
        r.run("save", src, root, "--step", "1", "--device", args.device)
        r.run("save", src, root, "--step", "2", "--zarr3", "--metrics", '{"loss": 0.5}', "--device", args.device)
        problems = []
        with ocp.CheckpointManager(root) as mngr:
            if list(mngr.all_steps()) != [1, 2] or mngr.latest_step() != 2:
                problems.append(f"Orbax sees steps {list(mngr.all_steps())}, latest {mngr.latest_step()}")
            for step in (1, 2):
                errors = []
                restored = None
                for how in ("StandardRestore", "Composite(default=...)"):
                    try:
                        if how == "StandardRestore":
                            restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract(tree)))
                        else:
                            restored = mngr.restore(step, args=ocp.args.Composite(
                                default=ocp.args.StandardRestore(abstract(tree))))["default"]
                        break
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"{how}: {type(e).__name__}: {e}")
                if restored is None:
                    problems.append(f"step {step}: " + "; ".join(errors))
                    continue
                problems += [f"step {step}: {p}" for p in check_tree(restored, tree)]
        return problems

    def b_multiprocess(name, *flags):
        # `mpirun -n 2 ockpt save`: ocdbt.process_0 and _1 under a merged root
        # (docs/sharding.md, "Multi-process runs").
        def fn():
            path = r.p(name)
            cmd = [shutil.which("mpirun"), "-n", "2", "--oversubscribe"]
            if os.getuid() == 0:
                cmd.append("--allow-run-as-root")
            cmd += [r.ockpt, "--no-progress", "--threads", "1", "save", src, path, *flags]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                return [f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:2000]}"]
            problems = []
            dirs = sorted(d for d in os.listdir(path) if d.startswith("ocdbt.process_"))
            if dirs != ["ocdbt.process_0", "ocdbt.process_1"]:
                problems.append(f"process databases: {dirs}")
            restored, how = orbax_restore(path, tree)
            return problems + check_tree(restored, tree)
        return fn

    r.case("B1 ockpt save (OCDBT, zarr2) -> Orbax restore", b_item("B_zarr2"))
    r.case("B2 ockpt save --zarr3 -> Orbax restore", b_item("B_zarr3", "--zarr3"))
    r.case("B3 ockpt save --no-ocdbt -> Orbax restore", b_item("B_noocdbt", "--no-ocdbt"))
    r.case("B4 ockpt save --chunk-bytes 1024 (multi-chunk) -> Orbax restore", b_item("B_chunks", "--chunk-bytes", "1024"))
    r.case("B5 ockpt save composite (PyTree + JSON item) -> Orbax CompositeCheckpointHandler", b_composite)
    r.case("B6 ockpt save --step 1, --step 2 --zarr3 --metrics -> Orbax CheckpointManager", b_manager)

    version = r.run("--version").stdout
    if shutil.which("mpirun") and "mpi: yes" in version:
        r.case("B7 mpirun -n 2 ockpt save --chunk-bytes 1024 -> Orbax restore",
               b_multiprocess("B_mpi2", "--chunk-bytes", "1024"))
        r.case("B8 mpirun -n 2 ockpt save --zarr3 --chunk-bytes 1024 -> Orbax restore",
               b_multiprocess("B_mpi2_zarr3", "--zarr3", "--chunk-bytes", "1024"))
    else:
        print("note: ockpt without MPI or no mpirun: the multi-process cases (B7, B8) are left out")

    new_cases(r, args)

    print(f"orbax_interop: {r.passed} passed, {r.failed} failed, {r.skipped} skipped")
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
