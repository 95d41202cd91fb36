"""Shared by the CLI test scripts: counting checks and the closing line
`N passed, M failed` that CTest output is read for."""
import sys


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, cond, what):
        """Counts one check; prints `FAIL what` when cond is false."""
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL", what, flush=True)
        return cond

    def exit(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
