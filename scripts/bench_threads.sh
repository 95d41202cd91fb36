#!/usr/bin/env bash
# Peak memory against the thread count (not a test): `ockpt save` and
# `ockpt restore` of one float32 array (smooth values + noise, zstd:1) in
# chunks of 4, 16 and 64 MiB with --threads 2, 16 and 64, each a process of
# its own, and its peak RSS (GNU time %M) and wall time. Memory should be
# bounded by the pipelines' bytes in flight, not grow with the thread count
# (--threads above the core count only oversubscribes the cores: the times
# are for orientation; the memory is the point). Prints a markdown table;
# nothing is asserted.
#   scripts/bench_threads.sh [OCKPT] [MiB] [THREADS...]
#   (default build/apps/ockpt/ockpt, 1024, 2 16 64)
set -euo pipefail
cd "$(dirname "$0")/.."
ockpt=$(realpath "${1:-build/apps/ockpt/ockpt}")
mib=${2:-1024}
shift $(($# < 2 ? $# : 2))
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(2 16 64)
[ -x /usr/bin/time ] || { echo "needs GNU time (apt install time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/params"

echo "generating a ${mib} MiB float32 array ..." >&2
/usr/bin/python3 - "$work/src/params/x.npy" "$mib" <<'PY'
import sys, numpy as np
path, mib = sys.argv[1], int(sys.argv[2])
rows = mib * (1 << 20) // 4096
rng = np.random.default_rng(0)
with open(path, "wb") as f:
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                            "shape": (rows, 1024)})
    x = np.linspace(0, 8 * np.pi, 1024, dtype=np.float32)
    for r0 in range(0, rows, 4096):
        r1 = min(rows, r0 + 4096)
        base = np.sin(x[None, :] + np.arange(r0, r1, dtype=np.float32)[:, None] * 1e-3)
        noise = rng.normal(0, 0.01, size=(r1 - r0, 1024)).astype(np.float32)
        (np.round((base + noise) * 4096) / 4096).astype("<f4").tofile(f)
PY

# Runs "$@" under GNU time; prints "seconds peak_MiB".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  awk '{ printf "%.2f %d\n", $1, $2 / 1024 }' "$work/time"
}

echo "| chunks | threads | save s | save peak RSS MiB | restore s | restore peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for chunk in 4 16 64; do
  for t in "${threads[@]}"; do
    rm -rf "$work/ckpt" "$work/out"
    read -r ss sm < <(measure "$ockpt" --quiet --threads "$t" save \
                        --chunk-bytes $((chunk << 20)) "$work/src" "$work/ckpt")
    read -r rs rm_ < <(measure "$ockpt" --quiet --threads "$t" restore "$work/ckpt" "$work/out")
    cmp -s "$work/src/params/x.npy" "$work/out/params/x.npy" ||
      { echo "restore of ${chunk} MiB chunks with $t threads differs from the source" >&2; exit 1; }
    echo "| ${chunk} MiB | $t | $ss | $sm | $rs | $rm_ |"
  done
done
