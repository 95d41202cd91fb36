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
/usr/bin/python3 scripts/bench_data.py "$work/src/params/x.npy" $((mib * 256))

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
