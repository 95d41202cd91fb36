#!/usr/bin/python3
"""Issue 12: array_metadatas' ext_metadata (a PRNG key's
{"random_key_impl": ...}) survives `save SRC DEST` from a checkpoint and the
restore -> save round trip through _tree.json, and `metadata --json` shows
it; JSON item file names and commit_success.txt as Orbax writes them.

  ext_metadata_test.py OCKPT GOLDEN_DIR
"""
import json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks

OCKPT, GOLDEN = sys.argv[1], sys.argv[2]
check = Checks()
tmp = tempfile.mkdtemp(prefix="ockpt-ext-")
KEY_EXT = {"random_key_impl": "threefry2x32"}


def run(*args):
    p = subprocess.run([OCKPT, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def ext_of(item_dir):
    path = os.path.join(item_dir, "array_metadatas", "process_0")
    doc = json.load(open(path))
    return {e["array_metadata"]["param_name"]: e["array_metadata"]["ext_metadata"] for e in doc["array_metadatas"]}


src = os.path.join(tmp, "src")
shutil.copytree(os.path.join(GOLDEN, "orbax_managed/v0_managed/no_metrics/no_custom_metadata/0/state"), src)
am_path = os.path.join(src, "array_metadatas", "process_0")
doc = json.load(open(am_path))
for e in doc["array_metadatas"]:
    if e["array_metadata"]["param_name"] == "a":
        e["array_metadata"]["ext_metadata"] = KEY_EXT
with open(am_path, "w") as f:
    json.dump(doc, f)

rc, out, err = run("metadata", src, "--json")
check(rc == 0, f"metadata: exit {rc}: {err}")
if rc == 0:
    leaves = {l["name"]: l for l in json.loads(out)["items"][""]["leaves"]}
    check(leaves["a"].get("ext_metadata") == KEY_EXT, f"metadata shows ext_metadata: {leaves['a']}")
    check("ext_metadata" not in leaves["b.c"], "no ext_metadata where there is none")

# Re-layout save from the checkpoint.
dest = os.path.join(tmp, "resaved")
rc, out, err = run("save", src, dest)
check(rc == 0, f"save SRC DEST: exit {rc}: {err}")
if rc == 0:
    ext = ext_of(dest)
    check(ext.get("a") == KEY_EXT and ext.get("b.c") is None, f"re-saved ext_metadata: {ext}")

# restore -> _tree.json -> save.
out_dir = os.path.join(tmp, "restored")
rc, out, err = run("restore", src, out_dir)
check(rc == 0, f"restore: exit {rc}: {err}")
if rc == 0:
    tree = json.load(open(os.path.join(out_dir, "_tree.json")))
    rec = {tuple(k["key"] for k in l["keypath"]): l for l in tree["leaves"]}
    check(rec[("a",)].get("ext_metadata") == KEY_EXT, f"_tree.json carries ext_metadata: {rec[('a',)]}")
    dest2 = os.path.join(tmp, "from_npy")
    rc, out, err = run("save", out_dir, dest2)
    check(rc == 0, f"save from the .npy directory: exit {rc}: {err}")
    if rc == 0:
        ext = ext_of(dest2)
        check(ext.get("a") == KEY_EXT and ext.get("b.c") is None, f"round-trip ext_metadata: {ext}")
# File names as Orbax writes them: a JSON item outside a step is
# JsonCheckpointHandler's "metadata" (also when named "metrics"), the metrics
# of a step are "metrics/metrics"; commit_success.txt names the absolute path.
meta_json = os.path.join(tmp, "m.json")
with open(meta_json, "w") as f:
    json.dump({"loss": 0.5}, f)
comp = os.path.join(tmp, "composite")
rc, out, err = run("save", comp, "--item", "state=" + src, "--json-item", "metrics=" + meta_json)
check(rc == 0, f"composite save: exit {rc}: {err}")
if rc == 0:
    check(os.path.isfile(os.path.join(comp, "metrics", "metadata")) and
          not os.path.exists(os.path.join(comp, "metrics", "metrics")), "non-step JSON item file is 'metadata'")
    text = open(os.path.join(comp, "commit_success.txt")).read()
    check(text == "Checkpoint commit was successful to " + os.path.abspath(comp), f"commit_success.txt: {text!r}")
root = os.path.join(tmp, "root")
rc, out, err = run("save", src, root, "--step", "3", "--metrics", '{"loss": 0.25}')
check(rc == 0, f"step save: exit {rc}: {err}")
if rc == 0:
    check(os.path.isfile(os.path.join(root, "3", "metrics", "metrics")), "step metrics file is 'metrics/metrics'")
shutil.rmtree(tmp, ignore_errors=True)
check.exit()
