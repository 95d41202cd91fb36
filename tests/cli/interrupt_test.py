#!/usr/bin/env python3
"""Issue 16: interrupts leave nothing behind.

SIGINT / SIGTERM in the middle of restore, save and convert: exit 130 / 143,
one line on stderr, no output under the final name and no temporary
(`OUT.ockpt-tmp-<pid>`, `DEST.orbax-checkpoint-tmp`). A stale
`OUT.ockpt-tmp-<pid>` of a dead process is removed by the next restore.

Usage: interrupt_test.py OCKPT
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks  # noqa: E402

ockpt = sys.argv[1]
check = Checks()
tmp = tempfile.mkdtemp()


def leftovers(parent, base):
    return sorted(n for n in os.listdir(parent) if n.startswith(base))


def interrupt(what, args, wait_for, sig, out_parent, out_base, attempts=4):
    """Starts ockpt ARGS, sends SIG once wait_for(pid) is true, checks the aftermath."""
    for attempt in range(attempts):
        p = subprocess.Popen([ockpt, "--threads", "1"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sent = False
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            if wait_for(p.pid):
                p.send_signal(sig)
                sent = True
                break
            time.sleep(0.002)
        out, err = p.communicate(timeout=60)
        if not sent:  # finished before we caught it in the act: clean up and retry
            for n in leftovers(out_parent, out_base):
                path = os.path.join(out_parent, n)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            continue
        want = 128 + sig
        err = err.decode(errors="replace")
        check(p.returncode == want, "%s: exit %d, expected %d (%r)" % (what, p.returncode, want, err))
        check(err.startswith("ockpt: interrupted by") and err.count("\n") == 1,
              "%s: one line on stderr (%r)" % (what, err))
        left = leftovers(out_parent, out_base)
        check(left == [], "%s: nothing left behind: %s" % (what, left))
        return
    check(False, "%s: never caught the command in the act in %d attempts" % (what, attempts))


try:
    src = os.path.join(tmp, "arrays")
    os.makedirs(src)
    rng = np.random.default_rng(0)
    # 384 MiB in three leaves, stored uncompressed: restore takes a while.
    for k in range(3):
        np.save(os.path.join(src, "w%d.npy" % k), rng.integers(0, 2**31, size=(32, 1 << 20), dtype=np.int32))
    ckpt = os.path.join(tmp, "ckpt")
    r = subprocess.run([ockpt, "save", src, ckpt, "--compression", "none"], stderr=subprocess.PIPE)
    check(r.returncode == 0, "save the fixture: %s" % r.stderr[:300])

    def restore_started(out):
        def f(pid):
            t = "%s.ockpt-tmp-%d" % (out, pid)
            try:
                return any(os.path.getsize(os.path.join(t, n)) > (1 << 20) for n in os.listdir(t))
            except OSError:
                return False
        return f

    out = os.path.join(tmp, "restored")
    interrupt("restore SIGINT", ["restore", ckpt, out], restore_started(out), signal.SIGINT, tmp, "restored")
    out = os.path.join(tmp, "restored2")
    interrupt("restore SIGTERM", ["restore", ckpt, out], restore_started(out), signal.SIGTERM, tmp, "restored2")

    dest = os.path.join(tmp, "saved")

    def save_started(pid):
        t = dest + ".orbax-checkpoint-tmp"
        total = 0
        for root, _, files in os.walk(t):
            for n in files:
                try:
                    total += os.path.getsize(os.path.join(root, n))
                except OSError:
                    pass
        return total > (4 << 20)

    interrupt("save SIGINT", ["save", src, dest, "--compression", "none"], save_started, signal.SIGINT, tmp, "saved")

    npz = os.path.join(tmp, "conv.npz")

    def convert_started(pid):
        try:
            return os.path.getsize("%s.ockpt-tmp-%d" % (npz, pid)) > (4 << 20)
        except OSError:
            return False

    interrupt("convert SIGINT", ["convert", ckpt, npz], convert_started, signal.SIGINT, tmp, "conv.npz")

    # A stale temporary of a dead process is removed by the next restore; a
    # live process's is not.
    dead = 4194303
    while True:
        try:
            os.kill(dead, 0)
            dead -= 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead -= 1
    out = os.path.join(tmp, "again")
    stale = "%s.ockpt-tmp-%d" % (out, dead)
    live = "%s.ockpt-tmp-%d" % (out, os.getpid())
    os.makedirs(stale)
    os.makedirs(live)
    r = subprocess.run([ockpt, "restore", ckpt, out], stderr=subprocess.PIPE)
    check(r.returncode == 0 and os.path.isdir(out), "restore after a SIGKILLed one: %s" % r.stderr[:300])
    check(not os.path.exists(stale), "the dead process's temporary is gone")
    check(os.path.exists(live), "a live process's temporary is left alone")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

check.exit()
