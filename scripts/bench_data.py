#!/usr/bin/env python3
"""The benchmarks' array (scripts/bench.sh, scripts/bench_threads.sh): a
float32 .npy of ROWS x 1024 (smooth sine rows plus N(0, 0.01) noise, rounded
to 1/4096: zstd level 1 compresses it to about 0.62), written slab by slab
so that memory does not grow with the size. The same ROWS always give the
same bytes (seed 0).

usage: bench_data.py OUT.npy ROWS
"""
import sys

import numpy as np

COLS = 1024
SLAB = 4096  # rows generated at a time


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, rows = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (rows, COLS)})
        x = np.linspace(0, 8 * np.pi, COLS, dtype=np.float32)
        for r0 in range(0, rows, SLAB):
            r1 = min(rows, r0 + SLAB)
            base = np.sin(x[None, :] + np.arange(r0, r1, dtype=np.float32)[:, None] * 1e-3)
            noise = rng.normal(0, 0.01, size=(r1 - r0, COLS)).astype(np.float32)
            (np.round((base + noise) * 4096) / 4096).astype("<f4").tofile(f)


if __name__ == "__main__":
    main()
