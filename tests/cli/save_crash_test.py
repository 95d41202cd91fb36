#!/usr/bin/env python3
"""Kill `ockpt save` with SIGKILL at random moments; afterwards the final
name either does not exist or holds a complete checkpoint that restores.

usage: save_crash_test.py OCKPT [ITERATIONS]
"""
from clitest import Checks
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ockpt = sys.argv[1]
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 40
random.seed(1234)
check = Checks()


with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    rng = np.random.default_rng(3)
    arrays = {"w%d" % i: rng.standard_normal((256, 256)).astype(np.float32) for i in range(8)}
    for k, v in arrays.items():
        np.save(os.path.join(src, k + ".npy"), v)
    t0 = time.monotonic()
    p = subprocess.run([ockpt, "save", src, os.path.join(tmp, "calibrate"), "--chunk-bytes", "65536"])
    full = time.monotonic() - t0
    check(p.returncode == 0, "calibration save")
    outcomes = {"absent": 0, "complete": 0}
    for i in range(iterations):
        dest = os.path.join(tmp, "ckpt%d" % i)
        for step in (False, True):
            args = [ockpt, "save", src, dest, "--chunk-bytes", "65536"]
            if step:
                args += ["--step", "1"]
                dest_final = os.path.join(dest, "1")
            else:
                dest_final = dest
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0, full * 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if not os.path.exists(dest_final):
                outcomes["absent"] += 1
                # A retry must succeed (leftover tmp dirs do not block it).
                r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                check(r.returncode == 0, "retry after kill %d: %s" % (i, r.stderr.decode()[:300]))
            else:
                outcomes["complete"] += 1
            out = os.path.join(tmp, "out%d_%d" % (i, step))
            r = subprocess.run([ockpt, "restore", dest_final, out], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            check(r.returncode == 0, "restore after kill %d: %s" % (i, r.stderr.decode()[:300]))
            if r.returncode == 0:
                for k, v in arrays.items():
                    got = os.path.join(out, k + ".npy")
                    check(np.array_equal(np.load(got), v), "values after kill %d (%s)" % (i, k))
            if step:
                import shutil
                shutil.rmtree(dest)
    print("outcomes:", outcomes, file=sys.stderr)
check.exit()
