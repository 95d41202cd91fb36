#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang, ASan and UBSan in
# build-fuzz/ and runs each for SECONDS (default 60), one after the other,
# from seed corpora made from tests/data (scripts/fuzz_seeds.py). Not part
# of ctest or CI. See docs/design.md, "Fuzzing".
#
#   [FUZZ_PARALLEL=N] scripts/fuzz.sh [SECONDS] [HARNESS...]   (N harnesses at once)
#
# Corpora grow in build-fuzz/corpus/<harness>/; crashes, hangs and
# out-of-memory inputs land in build-fuzz/crashes/<harness>/. Reproduce one
# with: build-fuzz/tests/fuzz/<harness> build-fuzz/crashes/<harness>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
shift || true
BUILD=build-fuzz
JOBS="${FUZZ_BUILD_JOBS:-1}"
SAN="-fsanitize=address,undefined -fsanitize=fuzzer-no-link"

if [[ ! -f "$BUILD/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOCKPT_FUZZ=ON -DOCKPT_CUDA=OFF -DCMAKE_C_FLAGS="$SAN" -DCMAKE_CXX_FLAGS="$SAN" >&2
fi
ninja -C "$BUILD" -j"$JOBS" ockpt_fuzzers >&2

HARNESSES=("$@")
if ((${#HARNESSES[@]} == 0)); then
  HARNESSES=(fuzz_ocdbt_manifest fuzz_ocdbt_btree_node fuzz_ocdbt_version_tree
             fuzz_ocdbt_data_file_table fuzz_ocdbt_kvstore fuzz_zarr_metadata
             fuzz_zarr_chunk fuzz_decompress fuzz_stream_decoder fuzz_npy_header
             fuzz_safetensors fuzz_legacy_msgpack fuzz_tree_metadata fuzz_base64 fuzz_json
             fuzz_checkpoint_tree fuzz_npz fuzz_hdf5)
fi

SEEDS="$BUILD/seeds"
rm -rf "$SEEDS"
/usr/bin/python3 scripts/fuzz_seeds.py tests/data "$SEEDS"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# Leaks made and lost inside libhdf5 on malformed files (tests/fuzz/lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp}"
# FUZZ_PARALLEL=N runs N harnesses at once (default 1).
PARALLEL="${FUZZ_PARALLEL:-1}"
run_one() {
  local h="$1" corpus="$BUILD/corpus/$1" crashes="$BUILD/crashes/$1"
  mkdir -p "$corpus" "$crashes" "$SEEDS/$h"
  echo "== $h: ${SECONDS_EACH}s" >&2
  if ! "$BUILD/tests/fuzz/$h" "$corpus" "$SEEDS/$h" -max_total_time="$SECONDS_EACH" \
      -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -artifact_prefix="$crashes/" -print_final_stats=1 2>"$BUILD/$h.log"; then
    echo "!! $h failed: see $BUILD/$h.log and $crashes/" >&2
    return 1
  fi
  echo "== $h: $(grep -E "^stat::(number_of_executed_units|average_exec_per_sec)" \
      "$BUILD/$h.log" | tr '\n' ' ')" >&2
}
status=0
pids=()
for h in "${HARNESSES[@]}"; do
  run_one "$h" &
  pids+=($!)
  if ((${#pids[@]} >= PARALLEL)); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit "$status"
