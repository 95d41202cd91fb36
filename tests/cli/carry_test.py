#!/usr/bin/python3
"""Issue 12: nothing lost between ockpt and Orbax.

  carry_test.py OCKPT GOLDEN_DIR [NGOCDBT_RUN_SH]

* `save SRC DEST` and `save SRC ROOT --step N` from a CheckpointManager step
  with a PyTree item, a JSON item, metrics, an opaque item (a custom
  handler's baz/foo.txt) and custom metadata keep every one of them (the
  opaque item byte for byte, JSON equal, arrays equal);
* _CHECKPOINT_METADATA custom_metadata and _METADATA's value_metadata_tree
  (and any other member ockpt does not model) survive `save SRC DEST` and
  restore -> save through _tree.json;
* a tree with a string leaf gets the PyTree handler's typestr;
* int4 is written sign-extended (TensorStore's bytes) and read back so;
* --sharding none|cpu and the warning for leaves without a known sharding;
* `save --layout v1` of the golden v1 checkpoint gives the same JSON files
  (timestamps aside) and, with --no-zstd-checksum, the same OCDBT keys and
  values as neuroglancer's reader lists them.
"""
import json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks

import numpy as np

OCKPT, GOLDEN = sys.argv[1], sys.argv[2]
NG = sys.argv[3] if len(sys.argv) > 3 else ""
check = Checks()
tmp = tempfile.mkdtemp(prefix="ockpt-carry-")


def run(*args):
    p = subprocess.run([OCKPT, *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def load(path):
    with open(path) as f:
        return json.load(f)


def same_arrays(a, b, what):
    rc, out, err = run("diff", a, b)
    check(rc == 0, f"{what}: diff {a} {b}: exit {rc}: {out[:500]} {err[:500]}")


# --- 1. a manager step with every kind of item -----------------------------
step_src = os.path.join(GOLDEN, "orbax_managed/v0_managed/has_metrics/has_custom_metadata")
src_step_dir = os.path.join(step_src, "0")
src_ckpt_md = load(os.path.join(src_step_dir, "_CHECKPOINT_METADATA"))

root = os.path.join(tmp, "root")
rc, out, err = run("save", step_src, root, "--step", "7")
check(rc == 0, f"save ROOT --step 7: exit {rc}: {err}")
if rc == 0:
    d = os.path.join(root, "7")
    for item in ("state", "metadata", "metrics", "baz"):
        check(os.path.isdir(os.path.join(d, item)), f"step keeps item {item}")
    check(open(os.path.join(d, "baz", "foo.txt"), "rb").read() ==
          open(os.path.join(src_step_dir, "baz", "foo.txt"), "rb").read(), "opaque item copied byte for byte")
    md = load(os.path.join(d, "_CHECKPOINT_METADATA"))
    check(md["custom_metadata"] == src_ckpt_md["custom_metadata"],
          f"custom_metadata carried: {md['custom_metadata']}")
    check(md["item_handlers"].get("baz") == src_ckpt_md["item_handlers"]["baz"],
          f"opaque item's handler typestr carried: {md['item_handlers'].get('baz')}")
    check(load(os.path.join(d, "metrics", "metrics")) == load(os.path.join(src_step_dir, "metrics", "metrics")),
          "metrics carried")
    check(load(os.path.join(d, "metadata", "metadata")) == load(os.path.join(src_step_dir, "metadata", "metadata")),
          "JSON item carried")
    same_arrays(os.path.join(src_step_dir, "state"), os.path.join(d, "state"), "state arrays")
    rc, out, err = run("ls-steps", root, "--json")
    check(rc == 0 and json.loads(out)["steps"][0]["status"] == "committed", f"the new step is committed: {out} {err}")

# Without --step: a composite checkpoint with the same items.
comp = os.path.join(tmp, "composite")
rc, out, err = run("save", step_src, comp)
check(rc == 0, f"save ROOT DEST: exit {rc}: {err}")
if rc == 0:
    md = load(os.path.join(comp, "_CHECKPOINT_METADATA"))
    check(sorted(md["item_handlers"]) == ["baz", "metadata", "metrics", "state"], f"items: {md['item_handlers']}")
    check(md["custom_metadata"] == src_ckpt_md["custom_metadata"], "custom_metadata carried (no step)")
    # A JSON item outside a step is JsonCheckpointHandler's "metadata" file.
    check(load(os.path.join(comp, "metrics", "metadata")) == {"loss": 0.5}, "metrics item outside a step")
    # And through convert, checkpoint -> checkpoint.
    conv = os.path.join(tmp, "converted")
    rc, out, err = run("convert", comp, conv, "--format", "orbax")
    check(rc == 0, f"convert checkpoint -> checkpoint: exit {rc}: {err}")
    if rc == 0:
        md2 = load(os.path.join(conv, "_CHECKPOINT_METADATA"))
        check(md2["custom_metadata"] == md["custom_metadata"] and
              sorted(md2["item_handlers"]) == sorted(md["item_handlers"]), f"convert keeps items and metadata: {md2}")
        check(open(os.path.join(conv, "baz", "foo.txt"), "rb").read() ==
              open(os.path.join(src_step_dir, "baz", "foo.txt"), "rb").read(), "convert copies the opaque item")

# --metrics replaces the source step's metrics.
root2 = os.path.join(tmp, "root2")
rc, out, err = run("save", step_src, root2, "--step", "1", "--metrics", '{"loss": 0.125}')
check(rc == 0 and load(os.path.join(root2, "1", "metrics", "metrics")) == {"loss": 0.125},
      f"--metrics replaces the source's metrics: {rc} {err}")

# --- 2. custom_metadata and _METADATA extras, restore -> save ----------------
std = os.path.join(tmp, "std_src")
shutil.copytree(os.path.join(GOLDEN, "orbax_compat/v0_checkpoints/composite_checkpoint/checkpoint_metadata_present/"
                                     "pytree_checkpointable_has_metadata/state"), std)
VMT = json.dumps({"a": {"category": "custom", "clazz": "ValueMetadataEntry",
                        "data": {"value_type": "jax.Array", "skip_deserialize": False}}})
tm_path = os.path.join(std, "_METADATA")
tm = load(tm_path)
tm["value_metadata_tree"] = VMT
tm["future_member"] = {"x": [1, 2]}
with open(tm_path, "w") as f:
    json.dump(tm, f)
with open(os.path.join(std, "_CHECKPOINT_METADATA"), "w") as f:
    json.dump({"item_handlers": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler",
               "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 1, "commit_timestamp_nsecs": 2,
               "custom_metadata": {"run": "abc", "n": [1, 2]}}, f)


def check_extras(dest, what):
    t = load(os.path.join(dest, "_METADATA"))
    check(t.get("value_metadata_tree") == VMT, f"{what}: value_metadata_tree carried")
    check(t.get("future_member") == {"x": [1, 2]}, f"{what}: unknown _METADATA member carried")
    c = load(os.path.join(dest, "_CHECKPOINT_METADATA"))
    check(c.get("custom_metadata") == {"run": "abc", "n": [1, 2]}, f"{what}: custom_metadata {c.get('custom_metadata')}")


resaved = os.path.join(tmp, "resaved")
rc, out, err = run("save", std, resaved)
check(rc == 0, f"save (extras): exit {rc}: {err}")
if rc == 0:
    check_extras(resaved, "save SRC DEST")
restored = os.path.join(tmp, "restored")
rc, out, err = run("restore", std, restored)
check(rc == 0, f"restore (extras): exit {rc}: {err}")
if rc == 0:
    tree = load(os.path.join(restored, "_tree.json"))
    check("format_metadata" in tree, "_tree.json has format_metadata")
    back = os.path.join(tmp, "back")
    rc, out, err = run("save", restored, back)
    check(rc == 0, f"save from restore: exit {rc}: {err}")
    if rc == 0:
        check_extras(back, "restore -> save")
        same_arrays(std, back, "restore -> save arrays")
# A partial restore leaves the whole-tree metadata out, with a warning.
part = os.path.join(tmp, "partial")
rc, out, err = run("restore", std, part, "--select", "a")
if check(rc == 0, f"partial restore: {rc} {err}"):
    fm = load(os.path.join(part, "_tree.json")).get("format_metadata", {})
    check("tree_metadata_extras" not in fm and "value_metadata_tree left out" in err,
          f"partial restore drops value_metadata_tree with a warning: {fm} {err}")
    check(fm.get("checkpoint_custom_metadata") == {"run": "abc", "n": [1, 2]},
          f"partial restore keeps the checkpoint's custom metadata: {fm}")
# --custom-metadata overrides the source's.
over = os.path.join(tmp, "override")
rc, out, err = run("save", std, over, "--custom-metadata", '{"x": 1}')
check(rc == 0 and load(os.path.join(over, "_CHECKPOINT_METADATA"))["custom_metadata"] == {"x": 1},
      "--custom-metadata wins over the source's")

# --- 3. strings, int4, sharding ---------------------------------------------
npy = os.path.join(tmp, "npy")
os.makedirs(npy)
np.save(os.path.join(npy, "w.npy"), np.arange(6, dtype=np.float32))
np.save(os.path.join(npy, "q.npy"), np.array([0x0F, 0x08, 0x07, 0x01, 0xF9], dtype=np.uint8))
with open(os.path.join(npy, "_tree.json"), "w") as f:
    json.dump({"leaves": [
        {"keypath": [{"key": "name", "type": "dict"}], "value_type": "string", "value": "hello"},
        {"keypath": [{"key": "q", "type": "dict"}], "value_type": "jax.Array", "dtype": "int4", "shape": [5]},
        {"keypath": [{"key": "w", "type": "dict"}], "value_type": "jax.Array", "dtype": "float32", "shape": [6]},
    ], "custom_metadata": None}, f)
sv = os.path.join(tmp, "strings")
rc, out, err = run("save", npy, sv, "--compression", "none")
check(rc == 0, f"save with a string leaf: exit {rc}: {err}")
if rc == 0:
    h = load(os.path.join(sv, "_CHECKPOINT_METADATA"))["item_handlers"]
    check(h.endswith("PyTreeCheckpointHandler"), f"string leaf: PyTree handler typestr, got {h}")
    check(load(os.path.join(sv, "_strings.json")) == {"name": "hello"}, "_strings.json")
    check("no recorded sharding" in err, f"warning for leaves without a sharding: {err}")
    p = subprocess.run([OCKPT, "ocdbt", "cat", sv, "q/0"], capture_output=True)
    check(p.returncode == 0 and p.stdout == bytes([0xFF, 0xF8, 0x07, 0x01, 0xF9]),
          f"int4 stored sign-extended as TensorStore writes it: {p.stdout!r}")
    back = os.path.join(tmp, "strings_restored")
    rc, out, err = run("restore", sv, back)
    if check(rc == 0, f"restore int4: {err}"):
        q = np.load(os.path.join(back, "q.npy"))
        check(q.tolist() == [0xFF, 0xF8, 0x07, 0x01, 0xF9], f"int4 read back sign-extended: {q.tolist()}")
nosh = os.path.join(tmp, "nosharding")
rc, out, err = run("save", npy, nosh, "--sharding", "none")
check(rc == 0 and not os.path.exists(os.path.join(nosh, "_sharding")) and "no recorded sharding" not in err,
      f"--sharding none writes no _sharding: {rc} {err}")
cpu = os.path.join(tmp, "cpu")
rc, out, err = run("save", npy, cpu, "--sharding", "cpu")
check(rc == 0 and os.path.exists(os.path.join(cpu, "_sharding")) and "no recorded sharding" not in err,
      f"--sharding cpu: cpu:0 without the warning: {rc} {err}")
rc, out, err = run("save", npy, os.path.join(tmp, "bad"), "--sharding", "tpu")
check(rc == 2, f"--sharding tpu is a usage error: {rc}")
# A known sharding dropped by --sharding none is named.
tun = os.path.join(GOLDEN, "tunix_sft_sharded/checkpoints/1/model_params")
if os.path.isdir(tun):
    rc, out, err = run("save", tun, os.path.join(tmp, "tun"), "--sharding", "none")
    check(rc == 0 and "left out" in err, f"--sharding none names dropped shardings: {rc} {err}")

# --- 4. the v1 layout against the golden v1 checkpoint ------------------------
V1 = os.path.join(GOLDEN, "orbax_compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/"
                          "pytree_checkpointable_has_metadata")
TIMES = ("init_timestamp_nsecs", "commit_timestamp_nsecs")
v1 = os.path.join(tmp, "v1")
rc, out, err = run("save", V1, v1, "--layout", "v1", "--no-zstd-checksum")
check(rc == 0, f"save --layout v1: exit {rc}: {err}")
if rc == 0:
    check(os.path.isfile(os.path.join(v1, "orbax.checkpoint")) and
          os.path.getsize(os.path.join(v1, "orbax.checkpoint")) == 0, "v1 marker file")
    want = load(os.path.join(V1, "_CHECKPOINT_METADATA"))
    got = load(os.path.join(v1, "_CHECKPOINT_METADATA"))
    for t in TIMES:
        want.pop(t, None)
        check(isinstance(got.pop(t, None), int), f"v1 _CHECKPOINT_METADATA has {t}")
    check(got == want, f"v1 _CHECKPOINT_METADATA: {got} != {want}")
    for rel in ("metadata/data.json", "state/_METADATA", "state/_sharding", "state/array_metadatas/process_0"):
        a, b = os.path.join(V1, rel), os.path.join(v1, rel)
        check(os.path.isfile(b) and load(a) == load(b), f"v1 {rel} equal to the golden's")
        if os.path.isfile(b):
            check(open(a, "rb").read() == open(b, "rb").read(), f"v1 {rel} byte-identical")
    same_arrays(V1, v1, "v1 arrays")
    if NG and os.path.exists(NG):
        def ng_keys(db):
            p = subprocess.run(["bash", NG, "--strict", db], capture_output=True, text=True)
            if p.returncode != 0:
                return None
            return [(k["key"], k["size"], k["sha256"]) for k in json.loads(p.stdout)["keys"]]
        mine, theirs = ng_keys(os.path.join(v1, "state")), ng_keys(os.path.join(V1, "state"))
        check(mine is not None and mine == theirs,
              f"neuroglancer's reader: v1 keys and values equal the golden's: {mine} vs {theirs}")
    else:
        print("note: neuroglancer's reader not found; v1 bytes checked by ockpt diff only")
# save_pytree's layout: one item named "pytree".
v1p = os.path.join(tmp, "v1_pytree")
rc, out, err = run("save", npy, v1p, "--layout", "v1")
check(rc == 0, f"save --layout v1 of one tree: exit {rc}: {err}")
if rc == 0:
    h = load(os.path.join(v1p, "_CHECKPOINT_METADATA"))["item_handlers"]
    check(h.get("pytree", "").endswith("v1._src.handlers.pytree_handler.PyTreeHandler"), f"v1 pytree item: {h}")
    check(load(os.path.join(v1p, "pytree", "_METADATA"))["use_zarr3"] is True, "v1 writes zarr3")
    rc, out, err = run("metadata", v1p, "--json")
    check(rc == 0 and "pytree" in json.loads(out)["items"], f"ockpt reads its v1 output: {rc} {err}")

# --- 5. a composite with every extra: save SRC DEST and restore -> save -----
# Built with ockpt, then given what Orbax (and custom handlers) add: a PRNG
# key's ext_metadata, a value_metadata_tree, item and checkpoint custom
# metadata, a JSON item and an opaque item.
KEY_EXT = {"random_key_impl": "threefry2x32"}
NAMED = {"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": ["x"]}
npy5 = os.path.join(tmp, "npy5")
os.makedirs(npy5)
np.save(os.path.join(npy5, "key.npy"), np.array([[1, 2], [3, 4]], dtype=np.uint32))
np.save(os.path.join(npy5, "w.npy"), np.arange(6, dtype=np.float32))
with open(os.path.join(npy5, "_tree.json"), "w") as f:
    json.dump({"leaves": [
        {"keypath": [{"key": "key", "type": "dict"}], "value_type": "jax.Array", "dtype": "uint32", "shape": [2, 2]},
        {"keypath": [{"key": "w", "type": "dict"}], "value_type": "jax.Array", "dtype": "float32", "shape": [6],
         "sharding": NAMED},
    ], "custom_metadata": None}, f)
cfg = os.path.join(tmp, "cfg.json")
CFG = {"lr": 0.001, "layers": [1, 2], "name": "x"}
with open(cfg, "w") as f:
    json.dump(CFG, f)
comp5 = os.path.join(tmp, "comp5")
rc, out, err = run("save", comp5, "--item", "state=" + npy5, "--json-item", "cfg=" + cfg,
                   "--custom-metadata", '{"run": "abc", "n": [1, 2]}')
check(rc == 0, f"save the composite: exit {rc}: {err}")
BAZ_FILES = {"foo.txt": b"opaque \x00\xff bytes", os.path.join("sub", "data.bin"): bytes(range(256)) * 3}
BAZ_HANDLER = "my_project.handlers.BazHandler"
ITEM_CUSTOM = {"item": "meta", "x": [1.5]}
if rc == 0:
    am_path = os.path.join(comp5, "state", "array_metadatas", "process_0")
    doc = load(am_path)
    for e in doc["array_metadatas"]:
        if e["array_metadata"]["param_name"] == "key":
            e["array_metadata"]["ext_metadata"] = KEY_EXT
    with open(am_path, "w") as f:
        json.dump(doc, f)
    tm_path = os.path.join(comp5, "state", "_METADATA")
    tm = load(tm_path)
    tm["custom_metadata"] = ITEM_CUSTOM
    tm["value_metadata_tree"] = VMT
    with open(tm_path, "w") as f:
        json.dump(tm, f)
    for rel, data in BAZ_FILES.items():
        os.makedirs(os.path.dirname(os.path.join(comp5, "baz", rel)), exist_ok=True)
        with open(os.path.join(comp5, "baz", rel), "wb") as f:
            f.write(data)
    cm_path = os.path.join(comp5, "_CHECKPOINT_METADATA")
    cm = load(cm_path)
    cm["item_handlers"]["baz"] = BAZ_HANDLER
    with open(cm_path, "w") as f:
        json.dump(cm, f)


def check_composite(dest, what):
    """Every extra of comp5 is in dest."""
    c = load(os.path.join(dest, "_CHECKPOINT_METADATA"))
    check(sorted(c["item_handlers"]) == ["baz", "cfg", "state"], f"{what}: items {c['item_handlers']}")
    check(c["item_handlers"].get("baz") == BAZ_HANDLER, f"{what}: opaque item's typestr")
    check(c["custom_metadata"] == {"run": "abc", "n": [1, 2]}, f"{what}: checkpoint custom_metadata {c['custom_metadata']}")
    for rel, data in BAZ_FILES.items():
        p = os.path.join(dest, "baz", rel)
        check(os.path.isfile(p) and open(p, "rb").read() == data, f"{what}: opaque baz/{rel} byte-identical")
    check(load(os.path.join(dest, "cfg", "metadata")) == CFG, f"{what}: JSON item equal")
    t = load(os.path.join(dest, "state", "_METADATA"))
    check(t.get("custom_metadata") == ITEM_CUSTOM, f"{what}: item custom_metadata {t.get('custom_metadata')}")
    check(t.get("value_metadata_tree") == VMT, f"{what}: value_metadata_tree")
    am = {e["array_metadata"]["param_name"]: e["array_metadata"]["ext_metadata"]
          for e in load(os.path.join(dest, "state", "array_metadatas", "process_0"))["array_metadatas"]}
    check(am == {"key": KEY_EXT, "w": None}, f"{what}: ext_metadata {am}")
    sh = load(os.path.join(dest, "state", "_sharding"))
    check(json.loads(sh.get("dw==", "null")) == NAMED, f"{what}: sharding of w carried: {sh}")
    same_arrays(os.path.join(comp5, "state"), os.path.join(dest, "state"), f"{what}: arrays")


direct5 = os.path.join(tmp, "direct5")
rc, out, err = run("save", comp5, direct5)
if check(rc == 0, f"save composite SRC DEST: exit {rc}: {err}"):
    check_composite(direct5, "save SRC DEST")
out5 = os.path.join(tmp, "out5")
rc, out, err = run("restore", comp5, out5)
if check(rc == 0, f"restore the composite: exit {rc}: {err}"):
    check("skipped" not in err, f"no item skipped: {err}")
    ck = load(os.path.join(out5, "_checkpoint.json"))
    check([(i["name"], i["kind"]) for i in ck["items"]] == [("baz", "opaque"), ("cfg", "json"), ("state", "pytree")],
          f"_checkpoint.json lists the items: {ck}")
    check(ck["custom_metadata"] == {"run": "abc", "n": [1, 2]}, f"_checkpoint.json custom_metadata: {ck}")
    check(load(os.path.join(out5, "cfg.json")) == CFG, "restore writes the JSON item as OUT/cfg.json")
    for rel, data in BAZ_FILES.items():
        check(open(os.path.join(out5, "baz", rel), "rb").read() == data, f"restore copies baz/{rel}")
    check(os.path.isfile(os.path.join(out5, "state", "_tree.json")), "PyTree item in OUT/state/")
    back5 = os.path.join(tmp, "back5")
    rc, out, err = run("save", out5, back5)
    if check(rc == 0, f"save the restore output: exit {rc}: {err}"):
        check_composite(back5, "restore -> save")
        # The same files as save SRC DEST, byte for byte (timestamps aside).
        if os.path.isdir(direct5):
            for rel in ("state/_METADATA", "state/_sharding", "state/array_metadatas/process_0", "cfg/metadata"):
                check(open(os.path.join(back5, rel), "rb").read() == open(os.path.join(direct5, rel), "rb").read(),
                      f"restore -> save: {rel} byte-identical to save SRC DEST's")
            a, b = load(os.path.join(back5, "_CHECKPOINT_METADATA")), load(os.path.join(direct5, "_CHECKPOINT_METADATA"))
            for t in TIMES:
                a.pop(t), b.pop(t)
            check(a == b, f"restore -> save: _CHECKPOINT_METADATA as save SRC DEST's: {a} vs {b}")
    # convert takes the same route.
    conv5 = os.path.join(tmp, "conv5")
    rc, out, err = run("convert", out5, conv5, "--format", "orbax")
    if check(rc == 0, f"convert the restore output: exit {rc}: {err}"):
        check_composite(conv5, "restore -> convert")

# (a) A composite with one PyTree item keeps the item's name.
one = os.path.join(tmp, "one_item")
rc, out, err = run("save", one, "--item", "state=" + npy5)
if check(rc == 0, f"save a one-item composite: {rc} {err}"):
    for what, args in (("save SRC DEST", ("save", one, os.path.join(tmp, "one_a"))),
                       ("save --layout v1", ("save", one, os.path.join(tmp, "one_v1"), "--layout", "v1"))):
        rc, out, err = run(*args)
        if check(rc == 0, f"(a) {what}: {rc} {err}"):
            h = load(os.path.join(args[2], "_CHECKPOINT_METADATA"))["item_handlers"]
            check(isinstance(h, dict) and "state" in h and os.path.isfile(os.path.join(args[2], "state", "_METADATA")),
                  f"(a) {what} keeps item 'state': {h}")
    rc, out, err = run("save", one, os.path.join(tmp, "one_root"), "--step", "3")
    check(rc == 0 and os.path.isdir(os.path.join(tmp, "one_root", "3", "state")),
          f"(a) save --step keeps item 'state': {rc} {err}")
    one_out = os.path.join(tmp, "one_out")
    rc, out, err = run("restore", one, one_out)
    if check(rc == 0 and os.path.isfile(os.path.join(one_out, "_checkpoint.json")), f"(a) restore: {rc} {err}"):
        rc, out, err = run("save", one_out, os.path.join(tmp, "one_b"))
        check(rc == 0 and isinstance(load(os.path.join(tmp, "one_b", "_CHECKPOINT_METADATA"))["item_handlers"], dict)
              and os.path.isdir(os.path.join(tmp, "one_b", "state")), f"(a) restore -> save keeps 'state': {rc} {err}")
# A step saved from one tree (item 'default') is still one tree.
root5 = os.path.join(tmp, "root5")
rc, out, err = run("save", npy5, root5, "--step", "1", "--metrics", '{"loss": 0.5}')
check(rc == 0, f"save --step with metrics: {rc} {err}")
rc, out, err = run("save", os.path.join(root5, "1"), os.path.join(tmp, "from_default"))
check(rc == 0 and isinstance(load(os.path.join(tmp, "from_default", "_CHECKPOINT_METADATA"))["item_handlers"], dict)
      and sorted(load(os.path.join(tmp, "from_default", "_CHECKPOINT_METADATA"))["item_handlers"]) == ["default", "metrics"],
      f"a step of default + metrics keeps both items: {rc} {err}")
root6 = os.path.join(tmp, "root6")
rc, out, err = run("save", npy5, root6, "--step", "1")
rc, out, err = run("save", os.path.join(root6, "1"), os.path.join(tmp, "from_default_only"))
check(rc == 0 and isinstance(load(os.path.join(tmp, "from_default_only", "_CHECKPOINT_METADATA"))["item_handlers"], str),
      f"a step whose only item is 'default' is saved as one tree: {rc} {err}")

# (b) A step restored straight into OUT names the metrics item it leaves out.
out_b = os.path.join(tmp, "out_b")
rc, out, err = run("restore", root5, out_b)
check(rc == 0 and "'metrics' left out" in err and os.path.isfile(os.path.join(out_b, "_tree.json"))
      and not os.path.exists(os.path.join(out_b, "_checkpoint.json")),
      f"(b) restore of default + metrics warns about metrics: {rc} {err}")

# (c) A sharded restore's pieces: the whole array's sharding is left out, with a warning.
sh5 = os.path.join(tmp, "sh5")
rc, out, err = run("restore", comp5, sh5, "--mesh", "x=2", "--spec", "w=x", "--shard", "0")
if check(rc == 0, f"(c) sharded restore: {rc} {err}"):
    check(os.path.isfile(os.path.join(sh5, "_checkpoint.json")), "(c) a sharded restore of a composite lists its items")
    shd = os.path.join(tmp, "sh5_saved")
    rc, out, err = run("save", sh5, shd)
    if check(rc == 0, f"(c) save of the pieces: {rc} {err}"):
        check("sharded restore" in err and "left out" in err, f"(c) warning for the pieces' sharding: {err}")
        sh = {k: json.loads(v) for k, v in load(os.path.join(shd, "state", "_sharding")).items()}
        check(sh.get("dw==") != NAMED and sh.get("dw==", {}).get("sharding_type") == "SingleDeviceSharding",
              f"(c) the piece w does not get the whole array's sharding: {sh}")
        md = json.loads(run("metadata", shd, "--json")[1])
        w = [l for l in md["items"]["state"]["leaves"] if l["name"] == "w"][0]
        check(w["shape"] == [3], f"(c) the piece is saved as an array of its own: {w['shape']}")

# (d) .h5 keeps ext_metadata (attribute ockpt_ext_metadata).
h5 = os.path.join(tmp, "state.h5")
rc, out, err = run("restore", comp5, h5, "--item", "state")
if check(rc == 0, f"(d) restore to .h5: {rc} {err}"):
    check("ext_metadata" not in err, f"(d) no ext_metadata warning: {err}")
    h5d = os.path.join(tmp, "from_h5")
    rc, out, err = run("save", h5, h5d)
    if check(rc == 0, f"(d) save from .h5: {rc} {err}"):
        am = {e["array_metadata"]["param_name"]: e["array_metadata"]["ext_metadata"]
              for e in load(os.path.join(h5d, "array_metadatas", "process_0"))["array_metadatas"]}
        check(am == {"key": KEY_EXT, "w": None}, f"(d) .h5 -> save keeps ext_metadata: {am}")

shutil.rmtree(tmp, ignore_errors=True)
check.exit()
