#!/usr/bin/env python3
"""Round trips between real orbax-checkpoint and ockpt (run by scripts/gpu-check.sh).

  orbax_interop.py --ockpt BUILD/apps/ockpt/ockpt --work DIR [--device cpu|host|cuda:0]

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

Prints one PASS/FAIL line per case, then 'N passed, N failed'; exit 0 when
all passed, 1 otherwise, 77 when orbax.checkpoint cannot be imported.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback

import numpy as np

try:
    import jax
    import jax.numpy as jnp
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


class Runner:
    def __init__(self, ockpt, work, device):
        self.ockpt = ockpt
        self.work = work
        self.device = device
        self.passed = 0
        self.failed = 0

    def run(self, *args, check=True):
        cmd = [self.ockpt, "--no-progress", *args]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:2000]}")
        return p

    def case(self, name, fn):
        try:
            problems = fn() or []
        except Exception as e:  # noqa: BLE001
            problems = [f"{type(e).__name__}: {e}", traceback.format_exc(limit=3)]
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems[:20]:
                print(f"     {p}")
        else:
            self.passed += 1
            print(f"PASS {name}")
        sys.stdout.flush()

    def p(self, *parts):
        return os.path.join(self.work, *parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ockpt", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--device", default="cpu", help="--device for ockpt restore and save (cpu, host, cuda:0)")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    r = Runner(os.path.abspath(args.ockpt), os.path.abspath(args.work), args.device)
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

    print(f"orbax_interop: {r.passed} passed, {r.failed} failed")
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
