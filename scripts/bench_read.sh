#!/usr/bin/env bash
# Read-side benchmarks (not tests): `ockpt metadata` on a generated
# 10,000-leaf checkpoint, and `ockpt restore` throughput next to `cat` of the
# same chunk files. Prints a small table; nothing is asserted.
#   scripts/bench_read.sh [OCKPT] [MiB]     (default build/apps/ockpt/ockpt, 512)
set -euo pipefail
cd "$(dirname "$0")/.."
ockpt=${1:-build/apps/ockpt/ockpt}
mib=${2:-512}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.6f", n / s / 1e9 }'; }

echo "generating a 10,000-leaf OCDBT checkpoint (ockpt save of 10,000 .npy files) ..." >&2
$py - "$work/npy" <<'PY'
import os, sys, numpy as np
root = sys.argv[1]
for i in range(10000):
    d = os.path.join(root, f"layer{i // 10}")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, f"w{i % 10}.npy"), np.full((4, 4), i, dtype="<f4"))
PY
"$ockpt" save "$work/npy" "$work/many"
sync
t0=$(now); "$ockpt" metadata "$work/many" --json >/dev/null; t1=$(now)
meta=$(secs "$t0" "$t1")

echo "generating a ${mib} MiB float32 array (uncompressed and zstd:1, 32 MiB chunks) ..." >&2
$py - "$work" "$mib" <<'PY'
import json, sys, zarr, numpy as np, numcodecs
root, mib = sys.argv[1], int(sys.argv[2])
n = mib * 1024 * 1024 // 4
rows = n // 1024
data = (np.arange(rows * 1024, dtype=np.float32) % 1000).reshape(rows, 1024)
for name, comp in (("raw", None), ("zstd", numcodecs.Zstd(level=1))):
    z = zarr.open_array(f"{root}/{name}/x", mode="w", shape=data.shape, chunks=(8192, 1024),
                        dtype="<f4", compressor=comp, fill_value=None)
    z[:] = data
    json.dump({"tree_metadata": {"('x',)": {"key_metadata": [{"key": "x", "key_type": 2}],
               "value_metadata": {"value_type": "np.ndarray", "skip_deserialize": False}}},
               "use_ocdbt": False, "store_array_data_equal_to_fill_value": True},
              open(f"{root}/{name}/_METADATA", "w"))
PY
sync
results=()
for name in raw zstd; do
  bytes=$(du -sb "$work/$name/x" | cut -f1)
  cat "$work/$name"/x/* >/dev/null  # warm the page cache
  t0=$(now); cat "$work/$name"/x/* >/dev/null; t1=$(now)
  cat_s=$(secs "$t0" "$t1")
  t0=$(now); "$ockpt" --no-progress restore "$work/$name" "$work/out_$name"; t1=$(now)
  rs=$(secs "$t0" "$t1")
  rm -rf "$work/out_$name"
  results+=("$(printf '| restore %-4s %4d MiB | %.3f s | %.2f GB/s | cat: %.3f s (%.2f GB/s) |' \
    "$name" "$mib" "$rs" "$(rate $((mib * 1048576)) "$rs")" "$cat_s" \
    "$(rate "$bytes" "$cat_s")")")
done
echo
echo "| what | time | rate | reference |"
echo "|---|---|---|---|"
printf '| metadata --json, 10,000 leaves | %.3f s | | |\n' "$meta"
printf '%s\n' "${results[@]}"
