#!/usr/bin/env python3
"""Remote paths end to end (issue 13), all on 127.0.0.1: golden checkpoints
copied into an s3rver bucket and served over plain http give the same output
and exit codes as the local copy (arrays bit-exact, --json equal apart from
the path); save / save --step / gc on the bucket, read back with the local
tools; a data file above the multipart threshold goes up in parts; metadata
of a 134-array checkpoint makes a bounded number of requests; a
fault-injecting proxy failing 20% of requests still gives bit-exact
restores; with the server gone every command fails with exit 6 within the
configured timeout, in one line naming the URL; save --step killed at random
moments never leaves a step that ls-steps calls committed without its
marker and data.

usage: remote_test.py OCKPT GOLDEN_DIR [PROJECT_DIR]
Skips (77) when node or the s3rver package is missing."""
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks  # noqa: E402
import remote_servers as rs  # noqa: E402

OCKPT = os.path.abspath(sys.argv[1])
GOLDEN = os.path.abspath(sys.argv[2])
PROJECT = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

script, why = rs.s3rver_script(PROJECT)
if script is None:
    print("SKIP:", why)
    sys.exit(77)

check = Checks()
work = tempfile.mkdtemp(prefix="ockpt-remote-")
BUCKET = "bucket"
server = rs.S3Server(script, work, BUCKET)
proxy = rs.FaultProxy(server.port)


def env_for(endpoint, timeout="20"):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("AWS_") or k.startswith("OCKPT_") or k.startswith("GOOGLE_"):
            del e[k]
    e.update({"AWS_ACCESS_KEY_ID": rs.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": rs.SECRET_KEY,
              "AWS_REGION": rs.REGION, "AWS_ENDPOINT_URL": endpoint, "HOME": work,
              "OCKPT_REMOTE_TIMEOUT": timeout})
    return e


ENV = env_for(proxy.endpoint)


def run(args, env=None, timeout=120):
    p = subprocess.run([OCKPT, "--no-progress"] + args, capture_output=True, env=env or ENV, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def same_tree(a, b, ignore=()):
    """Byte-equal files and the same file names (top-level names in `ignore` aside)."""
    if not (os.path.isdir(a) and os.path.isdir(b)):
        return False
    cmp = filecmp.dircmp(a, b, ignore=list(ignore))
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def same_arrays(a, b):
    """The same .npy files, byte for byte (_tree.json aside)."""
    def npys(d):
        out = {}
        for dirpath, _, files in os.walk(d):
            for f in files:
                if f.endswith(".npy"):
                    p = os.path.join(dirpath, f)
                    out[os.path.relpath(p, d)] = open(p, "rb").read()
        return out
    return os.path.isdir(a) and os.path.isdir(b) and npys(a) == npys(b) and len(npys(a)) > 0


def model_arrays(src):
    """A small transformer's parameters as restore writes them: nested
    dicts of .npy files with a _tree.json naming jax.Array leaves. Returns
    the leaf names."""
    import numpy as np
    rng = np.random.default_rng(0)
    shapes = {"params/embed/embedding": (64, 16), "params/pos_embed": (32, 16)}
    for layer in range(8):
        b = "params/layers_%d" % layer
        for m in ("query", "key", "value", "out"):
            shapes["%s/attention/%s/kernel" % (b, m)] = (16, 16)
            shapes["%s/attention/%s/bias" % (b, m)] = (16,)
        shapes.update({b + "/mlp/wi/kernel": (16, 64), b + "/mlp/wi/bias": (64,),
                       b + "/mlp/wo/kernel": (64, 16), b + "/mlp/wo/bias": (16,)})
        for ln in ("ln_attn", "ln_mlp"):
            shapes["%s/%s/scale" % (b, ln)] = (16,)
            shapes["%s/%s/bias" % (b, ln)] = (16,)
    shapes.update({"params/final_norm/scale": (16,), "params/final_norm/bias": (16,),
                   "params/lm_head/kernel": (16, 64), "params/lm_head/bias": (64,)})
    leaves = []
    for name in sorted(shapes):
        path = os.path.join(src, name + ".npy")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, rng.standard_normal(shapes[name]).astype(np.float32))
        leaves.append({"keypath": [{"key": k, "type": "dict"} for k in name.split("/")],
                       "name": name.replace("/", "."), "value_type": "jax.Array", "dtype": "float32",
                       "shape": list(shapes[name]),
                       "sharding": {"sharding_type": "SingleDeviceSharding", "device_str": "cpu:0"}})
    with open(os.path.join(src, "_tree.json"), "w") as f:
        json.dump({"leaves": leaves, "custom_metadata": None}, f)
    return [l["name"] for l in leaves]


def norm(text, local, url):
    return text.replace(url, "<P>").replace(local, "<P>")


try:
    # --- the golden checkpoints, with Orbax's commit marker in every
    # checkpoint directory (Orbax >= 0.12.3 writes it; on an object store a
    # step without it is not committed) ---
    local = os.path.join(work, "g")
    for sub in ("orbax_managed", "orbax_compat", "tunix_sft_sharded", "neuroglancer_ocdbt"):
        shutil.copytree(os.path.join(GOLDEN, sub), os.path.join(local, sub), symlinks=False)
    for dirpath, _, files in os.walk(local):
        if "_CHECKPOINT_METADATA" in files and "commit_success.txt" not in files:
            with open(os.path.join(dirpath, "commit_success.txt"), "w") as f:
                f.write("Checkpoint commit was successful to %s" % dirpath)
    n = rs.upload_tree(server.endpoint, BUCKET, local, "g")
    check(n > 100, "uploaded the golden tree (%d objects)" % n)
    s3 = "s3://%s/g" % BUCKET

    targets = []
    for dirpath, dirs, files in os.walk(local):
        rel = os.path.relpath(dirpath, local)
        if "_CHECKPOINT_METADATA" in files:
            targets.append(rel)
            dirs[:] = []
    roots = sorted({os.path.dirname(t) for t in targets if os.path.basename(t).isdigit()})
    # Every checkpoint kind and every root, but only a few of the metadata
    # alterations (the local suite covers those; here the question is
    # whether the remote path changes anything), to keep the run short.
    keep = ("pytree_checkpointable_has_metadata", "missing_pytree_data_dir_d", "v1_checkpoints/composite_checkpoint/non_critical_metadata_alterations/missing_item_handlers",
            "deleted_checkpointable", "v0_managed/has_metrics/has_custom_metadata", "v1_managed/no_metrics", "tunix")
    targets = sorted(t for t in targets if any(k in t for k in keep))
    roots = [r for r in roots if any(k in r for k in keep)]
    targets += roots
    check(len(targets) > 10, "found %d golden checkpoints and roots" % len(targets))

    # --- every read command: the same output and exit code as locally ---
    http_srv = rs.RangeHttpServer(local)
    for t in targets:
        lp, up = os.path.join(local, t), "%s/%s" % (s3, t)
        for args in (["metadata"], ["metadata", "--json"], ["verify"], ["verify", "--json"]):
            lc, lo, le = run(args + [lp])
            rc, ro, re_ = run(args + [up])
            check(rc == lc, "%s %s: exit %d, local %d (%s)" % (" ".join(args), t, rc, lc, re_.strip()[:300]))
            check(norm(ro, lp, up) == norm(lo, lp, up), "%s %s: output differs from the local run" % (" ".join(args), t))
            if "--json" in args and lc == 0:
                try:
                    jl, jr = json.loads(lo), json.loads(ro)
                    jl.pop("path", None), jr.pop("path", None)
                    check(norm(json.dumps(jl), lp, up) == norm(json.dumps(jr), lp, up), "%s --json %s equal apart from the path" % (args[0], t))
                except ValueError:
                    check(False, "%s --json %s: not JSON" % (args[0], t))
        if t in roots:
            for args in (["ls-steps"], ["ls-steps", "--json"], ["gc", "--dry-run", "--max-to-keep", "1", "--json"]):
                lc, lo, _ = run(args + [lp])
                rc, ro, re_ = run(args + [up])
                check(rc == lc, "%s %s: exit %d, local %d (%s)" % (" ".join(args), t, rc, lc, re_.strip()[:300]))
                if "--json" in args:
                    jl, jr = json.loads(lo or "{}"), json.loads(ro or "{}")
                    for j in (jl, jr):
                        j.pop("root", None)
                        for s in j.get("steps", []):
                            s.pop("commit_timestamp_nsecs", None) if False else None
                    check(jl == jr, "%s %s: JSON differs from the local run" % (" ".join(args), t))
        # restore: bit-exact
        lo_dir, ro_dir = os.path.join(work, "rl"), os.path.join(work, "rr")
        shutil.rmtree(lo_dir, ignore_errors=True), shutil.rmtree(ro_dir, ignore_errors=True)
        lc, _, _ = run(["restore", lp, lo_dir])
        rc, _, re_ = run(["restore", up, ro_dir])
        check(rc == lc, "restore %s: exit %d, local %d (%s)" % (t, rc, lc, re_.strip()[:300]))
        if lc == 0:
            check(same_tree(lo_dir, ro_dir), "restore %s: arrays differ from the local restore" % t)
            # diff between the remote and the local copy: identical
            dl_, _, _ = run(["diff", lp, lp])
            dc, _, de = run(["diff", up, lp])
            check(dc == dl_, "diff %s (s3) vs local: exit %d, local vs local %d (%s)" % (t, dc, dl_, de.strip()[:200]))
            # http(s): read-only, no listing
            # Over http, without a listing, the items are those _CHECKPOINT_METADATA
            # names: a checkpoint whose item_handlers were removed, or whose
            # item directory was deleted, needs a listing and is left out.
            needs_listing = t.endswith("deleted_checkpointable") or t.endswith("missing_item_handlers_metadata")
            if not needs_listing and t not in roots:
                hp = "%s/%s" % (http_srv.url, t)
                hc, ho, he = run(["metadata", "--json", hp])
                check(hc == 0 and json.loads(ho or "{}").get("items") == json.loads(run(["metadata", "--json", lp])[1]).get("items"),
                      "metadata --json over http %s: exit %d (%s)" % (t, hc, he.strip()[:200]))
                hr_dir = os.path.join(work, "rh")
                shutil.rmtree(hr_dir, ignore_errors=True)
                hc, _, he = run(["restore", hp, hr_dir])
                # A custom handler's item cannot be listed over http: it is
                # left out with a warning (and from _checkpoint.json).
                opaque = [n for n, it in json.loads(run(["metadata", "--json", lp])[1]).get("items", {}).items()
                          if it.get("kind") == "opaque"]
                ignore = opaque + ["_checkpoint.json"] if opaque else []
                check(hc == 0 and same_tree(lo_dir, hr_dir, ignore) and all("'%s'" % n in he for n in opaque),
                      "restore over http %s: exit %d (%s)" % (t, hc, he.strip()[:200]))

    # convert sources: s3 -> npz equals local -> npz
    t = "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"
    for fmt in ("npz", "safetensors"):
        a, b = os.path.join(work, "c." + fmt), os.path.join(work, "cr." + fmt)
        for x in (a, b):
            if os.path.exists(x):
                os.remove(x)
        lc, _, _ = run(["convert", os.path.join(local, t), a])
        rc, _, re_ = run(["convert", "%s/%s" % (s3, t), b])
        check(lc == rc == 0 and filecmp.cmp(a, b, shallow=False), "convert %s -> %s: exit %d (%s)" % (t, fmt, rc, re_.strip()[:200]))

    # ocdbt ls / versions / cat on the neuroglancer databases
    for db in sorted(os.listdir(os.path.join(local, "neuroglancer_ocdbt"))):
        if not db.endswith(".ocdbt"):
            continue
        lp, up = os.path.join(local, "neuroglancer_ocdbt", db), "%s/neuroglancer_ocdbt/%s" % (s3, db)
        for args in (["ocdbt", "ls", "--json"], ["ocdbt", "versions", "--json"]):
            lc, lo, _ = run(args + [lp])
            rc, ro, re_ = run(args + [up])
            check(rc == lc and lo == ro, "%s %s: exit %d, local %d (%s)" % (" ".join(args), db, rc, lc, re_.strip()[:200]))
            hc, ho, he = run(args + ["%s/neuroglancer_ocdbt/%s" % (http_srv.url, db)])
            check(hc == lc and ho == lo, "%s %s over http: exit %d (%s)" % (" ".join(args), db, hc, he.strip()[:200]))

    # --- metadata makes a bounded number of requests ---
    big = "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"
    proxy.reset_counts()
    run(["metadata", "%s/%s" % (s3, big)])
    total = sum(proxy.counts.values())
    print("requests for metadata of %s: %s (total %d)" % (big, proxy.counts, total))
    check(0 < total <= 40, "metadata made %d requests" % total)

    # A 134-array checkpoint (a small transformer's parameters: nested
    # dicts, jax.Array leaves, as a training job saves them): metadata's
    # requests do not grow with the array count (docs/remote.md).
    model_src, model = os.path.join(work, "model-src"), os.path.join(work, "model")
    model_leaves = model_arrays(model_src)
    check(len(model_leaves) == 134, "the model has %d arrays" % len(model_leaves))
    sc, _, se = run(["save", model_src, model])
    check(sc == 0, "save of the 134-array model: exit %d (%s)" % (sc, se.strip()[:300]))
    with open(os.path.join(model, "commit_success.txt"), "w") as f:
        f.write("Checkpoint commit was successful")
    rs.upload_tree(server.endpoint, BUCKET, model, "model")
    for args in (["metadata"], ["metadata", "--json"]):
        proxy.reset_counts()
        rc, ro, re_ = run(args + ["s3://%s/model" % BUCKET])
        reqs = list(proxy.requests)
        lc, lo, _ = run(args + [model])
        print("requests for %s of the 134-array checkpoint: %s (total %d):\n  %s" % (
            " ".join(args), proxy.counts, len(reqs), "\n  ".join(reqs)))
        check(rc == 0 and norm(ro, model, "s3://%s/model" % BUCKET) == norm(lo, model, "s3://%s/model" % BUCKET),
              "%s of the 134-array checkpoint equals the local run: exit %d (%s)" % (" ".join(args), rc, re_.strip()[:200]))
        check(0 < len(reqs) <= 16, "%s of 134 arrays made %d requests (at most 16)" % (" ".join(args), len(reqs)))
        check(len(set(reqs)) == len(reqs), "%s fetched nothing twice" % " ".join(args))
    proxy.reset_counts()
    rc, _, re_ = run(["restore", "s3://%s/model" % BUCKET, os.path.join(work, "model-back")])
    print("requests for restore of the 134-array checkpoint: %s" % proxy.counts)
    check(rc == 0 and same_arrays(model_src, os.path.join(work, "model-back")),
          "restore of the 134-array checkpoint: exit %d (%s)" % (rc, re_.strip()[:200]))

    # --- save to the bucket, read back remotely and with the local tools ---
    src = os.path.join(work, "src")
    run(["restore", os.path.join(local, "orbax_managed/v0_managed/has_metrics/has_custom_metadata/0/state"), src])
    dest = "s3://%s/saved/ckpt" % BUCKET
    sc, _, se = run(["save", src, dest])
    check(sc == 0, "save to s3: exit %d (%s)" % (sc, se.strip()[:300]))
    sc, _, se = run(["save", src, dest])
    check(sc == 5, "save to an existing s3 checkpoint is refused: exit %d" % sc)
    back = os.path.join(work, "back")
    rc, _, re_ = run(["restore", dest, back])
    check(rc == 0 and same_arrays(src, back), "restore of the saved s3 checkpoint equals its source (%s)" % re_.strip()[:200])
    dl = os.path.join(work, "dl")
    rs.download_tree(server.endpoint, BUCKET, "saved/ckpt", dl)
    back2 = os.path.join(work, "back2")
    rc, _, re_ = run(["restore", dl, back2])
    check(rc == 0 and same_arrays(src, back2), "the downloaded s3 checkpoint restores locally (%s)" % re_.strip()[:200])
    vc, _, ve = run(["verify", dl])
    check(vc == 0, "the downloaded s3 checkpoint verifies locally: exit %d (%s)" % (vc, ve.strip()[:200]))
    check(os.path.exists(os.path.join(dl, "commit_success.txt")), "save wrote commit_success.txt")

    # --- a data file above the multipart threshold goes up in parts ---
    big_src = os.path.join(work, "big-src")
    os.makedirs(big_src)
    import numpy as np
    np.save(os.path.join(big_src, "w.npy"), np.random.default_rng(1).standard_normal((3, 1 << 18)).astype(np.float32))
    np.save(os.path.join(big_src, "b.npy"), np.arange(16, dtype=np.int32))
    menv = dict(ENV, OCKPT_REMOTE_MULTIPART_MB="1")
    proxy.reset_counts()
    mdest = "s3://%s/multipart/ckpt" % BUCKET
    sc, _, se = run(["save", big_src, mdest], env=menv)
    reqs = list(proxy.requests)
    parts = [r for r in reqs if r.startswith("PUT ") and "partNumber=" in r]
    print("multipart save: %d requests, %d part uploads" % (len(reqs), len(parts)))
    check(sc == 0, "save with OCKPT_REMOTE_MULTIPART_MB=1: exit %d (%s)" % (sc, se.strip()[:300]))
    check(any(r.startswith("POST ") and "uploads=" in r for r in reqs) and len(parts) >= 3,
          "the ~3 MiB data file went up as a multipart upload of 0.5 MiB parts (%d parts)" % len(parts))
    mback = os.path.join(work, "multipart-back")
    rc, _, re_ = run(["restore", mdest, mback])
    check(rc == 0 and same_arrays(big_src, mback), "restore of the multipart save is bit-exact (%s)" % re_.strip()[:200])
    mdl = os.path.join(work, "multipart-dl")
    rs.download_tree(server.endpoint, BUCKET, "multipart/ckpt", mdl)
    vc, _, ve = run(["verify", mdl])
    check(vc == 0, "the downloaded multipart save verifies locally: exit %d (%s)" % (vc, ve.strip()[:200]))
    bc, _, be = run(["metadata", mdest], env=dict(ENV, OCKPT_REMOTE_MULTIPART_MB="lots"))
    check(bc == 2 and "OCKPT_REMOTE_MULTIPART_MB" in be, "a bad OCKPT_REMOTE_MULTIPART_MB: exit %d (%s)" % (bc, be.strip()[:200]))

    # --- save --step, ls-steps and gc on a remote manager root ---
    root = "s3://%s/root" % BUCKET
    for step in (1, 2, 3):
        sc, _, se = run(["save", src, root, "--step", str(step), "--metrics", '{"loss": %d}' % step])
        check(sc == 0, "save --step %d to s3: exit %d (%s)" % (step, sc, se.strip()[:300]))
    lc, lo, le = run(["ls-steps", "--json", root])
    j = json.loads(lo or "{}")
    check(lc == 0 and j.get("latest_step") == 3 and [s["status"] for s in j.get("steps", [])] == ["committed"] * 3,
          "ls-steps on the s3 root: %s (%s)" % (lo[:300], le.strip()[:200]))
    sc, _, _ = run(["save", src, root, "--step", "2"])
    check(sc == 5, "save --step of an existing step is refused: exit %d" % sc)
    gc_c, go, ge = run(["gc", "--max-to-keep", "1", "--json", root])
    check(gc_c == 0, "gc on the s3 root: exit %d (%s)" % (gc_c, ge.strip()[:300]))
    keys = rs.list_keys(server.endpoint, BUCKET, "root/")
    check(not any(k.startswith("root/1/") or k.startswith("root/2/") for k in keys) and any(k.startswith("root/3/") for k in keys),
          "gc deleted steps 1 and 2 and kept 3")
    mc, mo, _ = run(["metadata", "--json", root])
    check(mc == 0 and json.loads(mo).get("step") == 3, "metadata of the s3 root opens step 3")

    # a step without its marker is not committed on an object store
    rs.s3_request(server.endpoint, "DELETE", "/%s/root/3/commit_success.txt" % BUCKET)
    lc, lo, _ = run(["ls-steps", "--json", root])
    j = json.loads(lo or "{}")
    check(j.get("latest_step") is None and j.get("steps", [{}])[0].get("status") == "incomplete",
          "a step without commit_success.txt is incomplete on s3: %s" % lo[:300])

    # --- save --step killed at random moments ---
    rng = random.Random(7)
    croot = "s3://%s/crash" % BUCKET
    step = 0
    for trial in range(8):
        step += 1
        p = subprocess.Popen([OCKPT, "--no-progress", "save", src, croot, "--step", str(step)], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait()
        lc, lo, _ = run(["ls-steps", "--json", croot])
        if lc != 0:
            continue
        for s in json.loads(lo).get("steps", []):
            if s["status"] != "committed":
                continue
            name = s["path"]
            has_marker = rs.s3_request(server.endpoint, "HEAD", "/%s/crash/%s/commit_success.txt" % (BUCKET, name))[0] == 200
            rc, _, _ = run(["restore", "--step", str(s["step"]), croot, os.path.join(work, "crash-%d-%d" % (trial, s["step"]))])
            check(has_marker and rc == 0, "killed save: step %s called committed has its marker (%s) and restores (%d)" % (name, has_marker, rc))

    # --- 20% of requests failed by the proxy: restores are still bit-exact ---
    proxy.rate = 0.2
    t = "orbax_managed/v0_managed/has_metrics/has_custom_metadata/0/state"
    for i in range(3):
        out = os.path.join(work, "faulty%d" % i)
        rc, _, re_ = run(["restore", "%s/%s" % (s3, t), out], env=env_for(proxy.endpoint, "60"))
        check(rc == 0 and same_tree(src, out), "restore through a 20%% faulty proxy: exit %d (%s)" % (rc, re_.strip()[:300]))
    # An uncompressed 40 MiB chunk: ranged GETs of 16 MiB written into place
    # as they arrive; a truncated body resumes from its last byte.
    plain_src = os.path.join(work, "plain-src")
    os.makedirs(plain_src)
    np.save(os.path.join(plain_src, "p.npy"), np.random.default_rng(2).standard_normal((10, 1 << 20)).astype(np.float32))
    proxy.rate = 0.0
    sc, _, se = run(["save", plain_src, "s3://%s/plain/ckpt" % BUCKET, "--compression", "none"])
    check(sc == 0, "save of an uncompressed 40 MiB array to s3: exit %d (%s)" % (sc, se.strip()[:300]))
    # The same as one zstd chunk: decoded from one streamed ranged GET.
    sc, _, se = run(["save", plain_src, "s3://%s/zchunk/ckpt" % BUCKET])
    check(sc == 0, "save of a 40 MiB zstd chunk to s3: exit %d (%s)" % (sc, se.strip()[:300]))
    proxy.rate = 0.2
    for i in range(4):
        for name, what in (("plain", "an uncompressed chunk"), ("zchunk", "a 40 MiB zstd chunk")):
            out = os.path.join(work, "faulty-%s%d" % (name, i))
            rc, _, re_ = run(["restore", "s3://%s/%s/ckpt" % (BUCKET, name), out], env=env_for(proxy.endpoint, "60"))
            check(rc == 0 and same_arrays(plain_src, out),
                  "restore of %s through a 20%% faulty proxy: exit %d (%s)" % (what, rc, re_.strip()[:300]))
    print("faults injected:", proxy.injected)
    check(len(proxy.injected) >= 3, "the proxy injected several kinds of fault: %s" % proxy.injected)
    proxy.rate = 0.0

    # --- the server gone: exit 6, one line naming the URL, within the timeout ---
    dead = rs.free_port()
    denv = env_for("http://127.0.0.1:%d" % dead, "3")
    gone = "s3://%s/g/%s" % (BUCKET, big)
    for args in (["metadata", gone], ["restore", gone, os.path.join(work, "never")], ["verify", gone],
                 ["ls-steps", "s3://%s/root" % BUCKET], ["ocdbt", "ls", gone], ["diff", gone, gone],
                 ["save", src, "s3://%s/never" % BUCKET], ["gc", "--max-to-keep", "1", "s3://%s/root" % BUCKET]):
        t0 = time.time()
        rc, _, re_ = run(args, env=denv)
        took = time.time() - t0
        lines = [l for l in re_.splitlines() if l.strip()]
        check(rc == 6, "%s with the server gone: exit %d (%s)" % (args[0], rc, re_.strip()[:300]))
        check(len(lines) == 1 and "127.0.0.1:%d" % dead in lines[0] or (len(lines) == 1 and "s3://" in lines[0]),
              "%s with the server gone: one line naming the URL: %r" % (args[0], lines))
        check(took < 3 + 5, "%s with the server gone took %.1f s (timeout 3 s)" % (args[0], took))
    http_srv.stop()
finally:
    proxy.stop()
    server.stop()
    shutil.rmtree(work, ignore_errors=True)

check.exit()
