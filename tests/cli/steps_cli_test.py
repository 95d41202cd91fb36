#!/usr/bin/env python3
"""`ockpt ls-steps` and `ockpt gc` end to end: JSON shapes, exit codes, the
writer lock (a second writer with --no-wait gets exit 5; it is a flock on
the root directory, so no lock file is left), --dry-run, --trash, --clean-tmp
ages, a golden manager root, the stdout/stderr split of ls-steps, and a root
whose newest step is incomplete (ls-steps, restore, verify, metadata agree).

usage: steps_cli_test.py OCKPT GOLDEN_DIR
"""
from clitest import Checks
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ockpt = sys.argv[1]
golden = sys.argv[2]
ITEM = os.path.join(golden, "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                    "pytree_checkpointable_has_metadata")
check = Checks()


def run(*args):
    return subprocess.run([ockpt] + list(args), capture_output=True, text=True)


def make_step(root, name, step, metrics=None):
    d = os.path.join(root, name)
    shutil.copytree(ITEM, os.path.join(d, "default"), ignore=shutil.ignore_patterns("_CHECKPOINT_METADATA"))
    for dd, dirs, files in os.walk(d):
        os.chmod(dd, 0o755)
        for f in files:
            os.chmod(os.path.join(dd, f), 0o644)
    handlers = {"default": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler"}
    if metrics is not None:
        handlers["metrics"] = "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler"
        os.makedirs(os.path.join(d, "metrics"))
        with open(os.path.join(d, "metrics", "metrics"), "w") as f:
            json.dump(metrics, f)
    with open(os.path.join(d, "_CHECKPOINT_METADATA"), "w") as f:
        json.dump({"item_handlers": handlers, "metrics": {}, "performance_metrics": {},
                   "init_timestamp_nsecs": 1_700_000_000 * 10**9 + step * 10**9,
                   "commit_timestamp_nsecs": 1_700_000_000 * 10**9 + step * 10**9 + 1, "custom_metadata": {}}, f)


def age_tree(path, seconds):
    t = time.time() - seconds
    for dd, dirs, files in os.walk(path):
        for f in files:
            os.utime(os.path.join(dd, f), (t, t))
    for dd, dirs, files in sorted(os.walk(path), key=lambda x: -len(x[0])):
        os.utime(dd, (t, t))


with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    for s in range(1, 7):
        make_step(root, str(s), s, {"loss": [0.5, 0.2, 0.9, 0.1, 0.7, 0.3][s - 1]})
    make_step(root, "7.orbax-checkpoint-tmp", 7)
    make_step(root, "8.orbax-checkpoint-tmp", 8)
    age_tree(os.path.join(root, "7.orbax-checkpoint-tmp"), 2 * 3600)
    age_tree(os.path.join(root, "8.orbax-checkpoint-tmp"), 10 * 60)

    # --- ls-steps ---
    p = run("ls-steps", root, "--json")
    check(p.returncode == 0, "ls-steps exit %d %s" % (p.returncode, p.stderr))
    j = json.loads(p.stdout)
    check(list(j) == ["root", "latest_step", "steps", "tmp"], "ls-steps keys %s" % list(j))
    check(j["root"] == root and j["latest_step"] == 6, "root/latest")
    check([s["step"] for s in j["steps"]] == [1, 2, 3, 4, 5, 6], "steps")
    check(list(j["steps"][0]) == ["step", "path", "status", "commit_timestamp_nsecs", "bytes", "items", "metrics"],
          "step keys %s" % list(j["steps"][0]))
    s4 = j["steps"][3]
    check(s4["path"] == "4" and s4["status"] == "committed" and s4["items"] == ["default", "metrics"]
          and s4["metrics"] == {"loss": 0.1} and s4["commit_timestamp_nsecs"] == 1_700_000_004 * 10**9 + 1,
          "step 4: %s" % s4)
    du = sum(os.path.getsize(os.path.join(dd, f)) for dd, _, fs in os.walk(os.path.join(root, "4")) for f in fs)
    check(s4["bytes"] == du, "bytes %d vs %d" % (s4["bytes"], du))
    check([t["path"] for t in j["tmp"]] == ["7.orbax-checkpoint-tmp", "8.orbax-checkpoint-tmp"], "tmp")
    check(7190 <= j["tmp"][0]["age_seconds"] <= 7300 and 590 <= j["tmp"][1]["age_seconds"] <= 700,
          "tmp ages %s" % j["tmp"])
    p = run("ls-steps", root)
    check(p.returncode == 0 and "2023-11-14T22:13:21Z" in p.stdout and "loss=0.1" in p.stdout
          and "in_progress" in p.stdout, "ls-steps text:\n" + p.stdout)
    # stdout: the table only (a row per step and per in-progress dir); stderr: the summary.
    lines = p.stdout.splitlines()
    check(len(lines) == 1 + 6 + 2 and lines[0].startswith("STEP") and "latest committed" not in p.stdout,
          "ls-steps stdout is the table:\n" + p.stdout)
    check([l.split()[1] for l in lines[1:]] == ["committed"] * 6 + ["in_progress"] * 2, "statuses:\n" + p.stdout)
    check("6 steps (6 committed, 0 incomplete, 2 in progress)" in p.stderr and "latest committed step: 6" in p.stderr,
          "ls-steps summary on stderr: " + p.stderr)
    p = run("ls-steps", root, "--no-header")
    check(p.returncode == 0 and p.stdout.splitlines() == lines[1:], "--no-header:\n" + p.stdout)
    check(run("ls-steps", os.path.join(tmp, "missing")).returncode == 3, "ls-steps missing root: 3")
    check(run("ls-steps", ITEM).returncode == 3, "ls-steps on a checkpoint: 3")
    p = run("ls-steps", os.path.join(golden, "orbax_managed/v0_managed/has_metrics/has_custom_metadata"), "--json")
    g = json.loads(p.stdout)
    check(p.returncode == 0 and g["latest_step"] == 0 and g["steps"][0]["items"] == ["baz", "metadata", "metrics", "state"]
          and g["steps"][0]["metrics"] == {"loss": 0.5}
          and g["steps"][0]["commit_timestamp_nsecs"] == 1778139890858878738, "golden root: %s" % p.stdout)

    # --- usage errors (2) and refusals ---
    for args in (["gc", root], ["gc", root, "--best-metric", "loss"], ["gc", root, "--best-mode", "min", "--max-to-keep", "1"],
                 ["gc", root, "--drop-unscored", "--max-to-keep", "1"], ["gc", root, "--keep-time-interval", "5x"],
                 ["gc", root, "--keep-period", "0"], ["gc", root, "--max-to-keep", "-1"],
                 ["gc", root, "--tmp-older-than", "1h"], ["gc", root, "--clean-tmp", "--tmp-older-than", "soon"]):
        p = run(*args)
        check(p.returncode == 2, "%s: exit %d (want 2) %s" % (args, p.returncode, p.stderr))
    check(run("gc", os.path.join(tmp, "missing"), "--max-to-keep", "1").returncode == 3, "gc missing root: 3")
    check(run("gc", ITEM, "--max-to-keep", "1").returncode == 3, "gc on a checkpoint: 3")

    # --- dry run: the plan, nothing touched ---
    before = sorted(os.listdir(root))
    p = run("gc", root, "--max-to-keep", "2", "--best-metric", "loss", "--best-mode", "min", "--clean-tmp",
            "--dry-run", "--json")
    check(p.returncode == 0, "dry run exit %d %s" % (p.returncode, p.stderr))
    d = json.loads(p.stdout)
    check(list(d) == ["root", "dry_run", "plan", "tmp", "bytes_freed"], "gc keys %s" % list(d))
    check(d["dry_run"] is True, "dry_run true")
    # BestN(2, min) over losses 1:.5 2:.2 3:.9 4:.1 5:.7 6:.3 keeps 4 and 2; 6 is the latest.
    plan = {e["step"]: (e["action"], e["reasons"]) for e in d["plan"]}
    check(plan == {1: ("delete", ["not kept by any policy"]), 2: ("keep", ["best"]),
                   3: ("delete", ["not kept by any policy"]), 4: ("keep", ["best"]),
                   5: ("delete", ["not kept by any policy"]), 6: ("keep", ["latest"])}, "plan %s" % plan)
    check(d["tmp"] == [{"path": "7.orbax-checkpoint-tmp", "age_seconds": d["tmp"][0]["age_seconds"], "action": "delete"},
                       {"path": "8.orbax-checkpoint-tmp", "age_seconds": d["tmp"][1]["age_seconds"], "action": "keep"}],
          "tmp plan %s" % d["tmp"])
    check(d["bytes_freed"] > 0, "bytes_freed")
    check(sorted(os.listdir(root)) == before, "dry run changed nothing")
    p = run("gc", root, "--max-to-keep", "2", "--dry-run")
    check(p.returncode == 0 and "dry run" in p.stdout and "not kept by any policy" in p.stdout, "text plan:\n" + p.stdout)

    # --- the lock: a second writer with --no-wait gets 5; readers and dry runs are not blocked ---
    lock_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    p = run("gc", root, "--max-to-keep", "2", "--no-wait")
    check(p.returncode == 5 and "locked by another writer" in p.stderr, "locked: exit %d %s" % (p.returncode, p.stderr))
    check(sorted(os.listdir(root)) == before, "a refused gc changed nothing")
    check(run("ls-steps", root).returncode == 0, "ls-steps while locked")
    check(run("gc", root, "--max-to-keep", "2", "--dry-run").returncode == 0, "dry run while locked")
    # Without --no-wait it waits for the holder.
    waiter = subprocess.Popen([ockpt, "gc", root, "--max-to-keep", "5", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    check(waiter.poll() is None, "gc waits for the lock")
    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    os.close(lock_fd)
    out, err = waiter.communicate(timeout=60)
    check(waiter.returncode == 0, "waiting gc exit %d %s" % (waiter.returncode, err))
    check(json.loads(out)["dry_run"] is False, "gc json dry_run false")
    check(not os.path.exists(os.path.join(root, "1")) and os.path.exists(os.path.join(root, "2")), "max-to-keep 5")

    # Two gc processes racing: exactly one runs, the other gets 5.
    race = os.path.join(tmp, "race")
    shutil.copytree(root, race)
    lock_fd = os.open(race, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    first = subprocess.Popen([ockpt, "gc", race, "--max-to-keep", "3"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    os.close(lock_fd)
    second = run("gc", race, "--max-to-keep", "3", "--no-wait")
    first.wait(timeout=60)
    check(first.returncode == 0, "first gc of the race")
    check(second.returncode in (0, 5), "second gc of the race: %d" % second.returncode)

    # --- --clean-tmp: only the old in-progress dir goes ---
    p = run("gc", root, "--clean-tmp")
    check(p.returncode == 0, "clean-tmp exit %d %s" % (p.returncode, p.stderr))
    check(not os.path.exists(os.path.join(root, "7.orbax-checkpoint-tmp")), "old tmp removed")
    check(os.path.exists(os.path.join(root, "8.orbax-checkpoint-tmp")), "young tmp kept")
    p = run("gc", root, "--clean-tmp", "--tmp-older-than", "5m", "--json")
    check(p.returncode == 0 and json.loads(p.stdout)["tmp"][0]["action"] == "delete"
          and not os.path.exists(os.path.join(root, "8.orbax-checkpoint-tmp")), "tmp-older-than 5m")

    # --- --trash and leftovers of an interrupted gc ---
    os.makedirs(os.path.join(root, ".ockpt-deleting-1-999999/default"))
    p = run("gc", root, "--keep-period", "3", "--trash", os.path.join(tmp, "trash"))
    check(p.returncode == 0, "trash exit %d %s" % (p.returncode, p.stderr))
    check(sorted(os.listdir(os.path.join(tmp, "trash"))) == ["2", "4", "5"], "trash %s" % os.listdir(os.path.join(tmp, "trash")))
    check(sorted(os.listdir(root)) == ["3", "6"], "root after trash (no lock file) %s" % os.listdir(root))
    check(run("restore", root, os.path.join(tmp, "r3"), "--step", "3", "--item", "default").returncode == 0, "restore 3")

    # --- save --step with a retention policy prunes after the commit, as CheckpointManager does ---
    src = os.path.join(tmp, "src")
    check(run("restore", ITEM, src).returncode == 0, "restore a source for save")
    managed = os.path.join(tmp, "managed")
    for s in range(1, 6):
        p = run("save", src, managed, "--step", str(s), "--metrics", json.dumps({"loss": 10 - s}),
                "--max-to-keep", "2", "--keep-period", "2")
        check(p.returncode == 0, "save --step %d: %s" % (s, p.stderr))
    j = json.loads(run("ls-steps", managed, "--json").stdout)
    # After step 5: LatestN(2) keeps 4, 5; EveryNSteps(2) keeps 2, 4.
    check([x["step"] for x in j["steps"]] == [2, 4, 5], "save retention: %s" % [x["step"] for x in j["steps"]])
    check(run("save", src, managed, "--step", "6", "--best-metric", "loss").returncode == 2,
          "save --best-metric without --max-to-keep: 2")
    check(run("save", src, os.path.join(tmp, "plain"), "--max-to-keep", "1").returncode == 2,
          "save --max-to-keep without --step: 2")
    lock_fd = os.open(managed, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    saver = subprocess.Popen([ockpt, "save", src, managed, "--step", "7"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    check(saver.poll() is None and not os.path.exists(os.path.join(managed, "7")), "save --step waits for the lock")
    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    os.close(lock_fd)
    check(saver.wait(timeout=60) == 0 and os.path.exists(os.path.join(managed, "7")), "save --step after the lock")
    check(not any(n.startswith(".ockpt") for n in os.listdir(managed)), "no lock file after save: %s" % os.listdir(managed))

    # save --step retention finishes an interrupted gc first, and says what it deletes.
    os.makedirs(os.path.join(managed, ".ockpt-deleting-2-999999/default"))
    p = run("save", src, managed, "--step", "8", "--max-to-keep", "2")
    check(p.returncode == 0, "save 8: %s" % p.stderr)
    check(sorted(os.listdir(managed)) == ["7", "8"], "save retention after recovery: %s" % os.listdir(managed))
    check("interrupted" in p.stderr and "deleted 5" in p.stderr, "save retention on stderr: " + p.stderr)

    # --- a root whose newest step is incomplete: every command sees step 600 ---
    inc = os.path.join(tmp, "incomplete")
    make_step(inc, "600", 600, {"loss": 0.5})
    make_step(inc, "700", 700, {"loss": 0.25})
    shutil.rmtree(os.path.join(inc, "700", "default"))
    with open(os.path.join(inc, "600", "metrics", "metrics"), "w") as f:
        f.write('{"loss": NaN}')
    p = run("ls-steps", inc)
    check(p.returncode == 0 and "latest committed step: 600" in p.stderr and "700: incomplete" in p.stderr
          and "loss=NaN" in p.stdout, "ls-steps incomplete: %s %s" % (p.stdout, p.stderr))
    check(json.loads(run("ls-steps", inc, "--json").stdout)["latest_step"] == 600, "ls-steps --json 600")
    md = json.loads(run("metadata", inc, "--json").stdout)
    check(md.get("step") == 600, "metadata picks 600: %s" % md.get("step"))
    p = run("metadata", inc)
    check(p.returncode == 0 and "metrics: json" in p.stdout and "NaN" in p.stdout, "metadata NaN item:\n" + p.stdout)
    out = os.path.join(tmp, "inc_out")
    p = run("restore", inc, out)
    check(p.returncode == 0 and os.path.exists(os.path.join(out, "a.npy")) and "700" in p.stderr,
          "restore picks 600: %s %s" % (p.returncode, p.stderr))
    p = run("restore", inc, os.path.join(tmp, "inc_metrics"), "--item", "metrics")
    check(p.returncode == 0 and "NaN" in open(os.path.join(tmp, "inc_metrics", "metrics.json")).read(),
          "restore the NaN metrics item: %s" % p.stderr)
    p = run("verify", inc)
    check(p.returncode == 0 and "(2 leaves decoded)" in p.stdout, "verify picks 600: %s %s" % (p.stdout, p.stderr))
    for cmd in (["restore", inc, os.path.join(tmp, "inc_700"), "--step", "700"], ["verify", inc, "--step", "700"],
                ["metadata", inc, "--step", "700"]):
        p = run(*cmd)
        check(p.returncode == 3 and "incomplete" in p.stderr, "%s: exit %d %s" % (cmd[0], p.returncode, p.stderr))
    check(not os.path.exists(os.path.join(tmp, "inc_700")), "nothing restored from 700")
    p = run("restore", os.path.join(inc, "700"), os.path.join(tmp, "inc_700d"))
    check(p.returncode == 0 and "not committed" in p.stderr and sorted(os.listdir(os.path.join(tmp, "inc_700d"))) == ["_checkpoint.json", "metrics.json"],
          "the incomplete step dir given directly restores what it has, with a warning: %d %s" % (p.returncode, p.stderr))
    shutil.rmtree(os.path.join(inc, "600", "default"))
    for cmd in (["restore", inc, os.path.join(tmp, "inc_none")], ["verify", inc], ["metadata", inc]):
        p = run(*cmd)
        check(p.returncode == 3 and "no committed step" in p.stderr, "%s no committed step: %d %s" % (cmd[0], p.returncode, p.stderr))

check.exit()
