#!/usr/bin/env python3
"""Kill `ockpt gc` with SIGKILL at random moments. Afterwards `ockpt ls-steps
--json` shows only complete committed steps (never a half-deleted one under a
step name), every step a policy keeps is still there, every listed step
restores, and a second gc finishes the job (including the leftovers of the
killed one).

usage: gc_crash_test.py OCKPT GOLDEN_DIR [ITERATIONS]
"""
from clitest import Checks
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ockpt = sys.argv[1]
golden = sys.argv[2]
iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 30
random.seed(4321)
ITEM = os.path.join(golden, "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                    "pytree_checkpointable_has_metadata")
STEPS = list(range(24))
# --max-to-keep 2 --keep-period 10: LatestN(2) keeps 22, 23; EveryNSteps(10)
# keeps 0, 10, 20. Everything else goes, and both old tmp dirs with --clean-tmp.
GC_ARGS = ["--max-to-keep", "2", "--keep-period", "10", "--clean-tmp", "--tmp-older-than", "1h"]
KEPT = {0, 10, 20, 22, 23}
TMP = {"24.orbax-checkpoint-tmp", "25.orbax-checkpoint-tmp-1700000000"}
check = Checks()


def copy_item(dst):
    shutil.copytree(ITEM, dst, ignore=shutil.ignore_patterns("_CHECKPOINT_METADATA"))
    for d, dirs, files in os.walk(dst):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)


def make_root(root):
    os.makedirs(root)
    t0 = 1_700_000_000 * 10**9
    for s in STEPS:
        d = os.path.join(root, str(s))
        copy_item(os.path.join(d, "default"))
        # Bulk, so that deleting a step takes a while and kills land inside it.
        blob = os.path.join(d, "blob")
        os.makedirs(blob)
        for k in range(40):
            with open(os.path.join(blob, "f%02d" % k), "wb") as f:
                f.write(b"x" * 512)
        os.makedirs(os.path.join(d, "metrics"))
        with open(os.path.join(d, "metrics", "metrics"), "w") as f:
            json.dump({"loss": 1.0 / (s + 1)}, f)
        md = {"item_handlers": {"default": "orbax.checkpoint._src.handlers.standard_checkpoint_handler."
                                           "StandardCheckpointHandler",
                                "metrics": "orbax.checkpoint._src.handlers.json_checkpoint_handler."
                                           "JsonCheckpointHandler"},
              "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": t0 + s * 10**9,
              "commit_timestamp_nsecs": t0 + s * 10**9 + 5, "custom_metadata": {}}
        with open(os.path.join(d, "_CHECKPOINT_METADATA"), "w") as f:
            json.dump(md, f)
        with open(os.path.join(d, "commit_success.txt"), "w") as f:
            f.write("Checkpoint commit was successful to " + d)
    old = time.time() - 7200
    for name in TMP:
        d = os.path.join(root, name)
        copy_item(os.path.join(d, "default"))
        for dd, dirs, files in os.walk(d):
            for f in files:
                os.utime(os.path.join(dd, f), (old, old))
        for dd, dirs, files in sorted(os.walk(d), key=lambda x: -len(x[0])):
            os.utime(dd, (old, old))


def ls_steps(root):
    p = subprocess.run([ockpt, "ls-steps", root, "--json"], capture_output=True, text=True)
    check(p.returncode == 0, "ls-steps exit %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout) if p.returncode == 0 else {"steps": [], "tmp": []}


def restores(root, step, out):
    p = subprocess.run([ockpt, "restore", root, out, "--step", str(step), "--item", "default"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "exit %d: %s" % (p.returncode, p.stderr.strip())
    with open(os.path.join(out, "a.npy"), "rb") as f:
        data = f.read()
    # int32[8] = 0..7 after the .npy header.
    if data[-32:] != b"".join(i.to_bytes(4, "little") for i in range(8)):
        return "wrong values in a.npy"
    return None


with tempfile.TemporaryDirectory() as tmp:
    base = os.path.join(tmp, "base")
    make_root(base)
    listing = ls_steps(base)
    check([s["step"] for s in listing["steps"]] == STEPS, "base root lists 24 steps")
    check({t["path"] for t in listing["tmp"]} == TMP, "base root lists the tmp dirs")

    calib = os.path.join(tmp, "calibrate")
    shutil.copytree(base, calib, copy_function=os.link)
    t0 = time.monotonic()
    p = subprocess.run([ockpt, "gc", calib] + GC_ARGS, capture_output=True, text=True)
    full = time.monotonic() - t0
    check(p.returncode == 0, "calibration gc: %s" % p.stderr)
    check({s["step"] for s in ls_steps(calib)["steps"]} == KEPT, "calibration gc keeps exactly the policy's steps")

    outcomes = {"untouched": 0, "partial": 0, "leftovers": 0, "done": 0}
    for i in range(iterations):
        root = os.path.join(tmp, "root%d" % i)
        shutil.copytree(base, root, copy_function=os.link)  # hard links: cheap, and gc only unlinks
        if i % 2 == 0:
            # Any moment of the run.
            proc = subprocess.Popen([ockpt, "gc", root] + GC_ARGS, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0, full * 1.1))
        else:
            # Right after the plan is printed, i.e. while it renames and removes.
            proc = subprocess.Popen([ockpt, "gc", root] + GC_ARGS, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            for line in proc.stdout:
                if "will free" in line:
                    break
            time.sleep(random.uniform(0, 0.01))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()

        leftovers = [n for n in os.listdir(root) if n.startswith(".ockpt-deleting-")]
        listing = ls_steps(root)
        steps = {s["step"] for s in listing["steps"]}
        if leftovers:
            outcomes["leftovers"] += 1
        if steps == set(STEPS):
            outcomes["untouched"] += 1
        elif steps == KEPT:
            outcomes["done"] += 1
        else:
            outcomes["partial"] += 1
        for s in listing["steps"]:
            check(s["status"] == "committed", "iteration %d: step %s is %s" % (i, s["step"], s["status"]))
            check(s["items"] == ["blob", "default", "metrics"], "iteration %d: step %s items %s" %
                  (i, s["step"], s["items"]))
        check(steps <= set(STEPS), "iteration %d: unknown steps %s" % (i, steps - set(STEPS)))
        check(KEPT <= steps, "iteration %d: kept steps deleted: %s" % (i, KEPT - steps))
        check({t["path"] for t in listing["tmp"]} <= TMP, "iteration %d: tmp %s" % (i, listing["tmp"]))
        check(listing["latest_step"] == 23, "iteration %d: latest %s" % (i, listing["latest_step"]))
        for s in sorted(steps):
            err = restores(root, s, os.path.join(tmp, "out%d_%d" % (i, s)))
            check(err is None, "iteration %d: step %d does not restore: %s" % (i, s, err))

        # A second gc finishes the job: leftovers removed, exactly the policy's steps.
        p = subprocess.run([ockpt, "gc", root] + GC_ARGS, capture_output=True, text=True)
        check(p.returncode == 0, "iteration %d: second gc exit %d: %s" % (i, p.returncode, p.stderr))
        names = set(os.listdir(root))
        check(names == {str(s) for s in KEPT},
              "iteration %d: after the second gc: %s" % (i, sorted(names)))
        shutil.rmtree(root)

    print("gc crash test: %d iterations (%s), full gc %.3fs" %
          (iterations, ", ".join("%s %d" % kv for kv in outcomes.items()), full), file=sys.stderr)
check.exit()
