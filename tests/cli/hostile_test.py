#!/usr/bin/env python3
"""Hostile inputs (issue 14): every case of tests/data/hostile/make_hostile.py
ends, within its timeout, with the exit code it expects and without a crash.

usage: hostile_test.py OCKPT GOLDEN_DIR HOSTILE_DIR [OCDBT_WRITE_FIXTURE]
"""
from clitest import Checks
import os
import subprocess
import sys
import tempfile

ockpt, golden, hostile = (os.path.abspath(a) for a in sys.argv[1:4])
fixture = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
sys.path.insert(0, hostile)
import make_hostile  # noqa: E402

check = Checks()
with tempfile.TemporaryDirectory() as work:
    for case in make_hostile.cases(ockpt, golden, work, fixture):
        try:
            proc = subprocess.run([ockpt, "--no-progress", *case.argv], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=case.timeout,
                                  preexec_fn=case.preexec, cwd=work)
        except subprocess.TimeoutExpired:
            check(False, "%s: no exit within %ds" % (case.name, case.timeout))
            continue
        want = case.expect if isinstance(case.expect, set) else {case.expect}
        ok = check(proc.returncode in want, "%s: exit %d, expected %s\n  stderr: %s" % (
            case.name, proc.returncode, sorted(want),
            proc.stderr.decode(errors="replace")[-400:]))
        if ok and case.check:
            err = case.check(proc, work)
            check(err is None, "%s: %s" % (case.name, err))
check.exit()
