#!/usr/bin/env bash
# One prepared check of GPU-staged reads and writes (docs/gpu.md).
#
#   scripts/gpu-check.sh [--cpu-only] [--build-dir DIR] [--no-build] [--gib N] [--out DIR] [--keep]
#
# On a machine with an NVIDIA GPU (nvidia-smi lists one) it
#   1. builds with -DOCKPT_CUDA=ON -DOCKPT_GPU_TESTS=ON into DIR (default build-gpu);
#   2. runs the staging tests on the host backend and the GPU test binary
#      (every dtype and layout through device memory, a multi-GiB array);
#   3. measures pinned host<->device bandwidth and the staging ring's rates
#      (ockpt_staging_bench) and the page-cache read speed of the checkpoint
#      files (cat);
#   4. saves a multi-GiB checkpoint, restores it with --device cpu and
#      --device cuda:0 (every leaf lands in device memory and is checked
#      against the host bytes) and saves it again from device memory, and
#      compares the results (cmp, ockpt diff);
#   5. where `python3 -c "import orbax.checkpoint"` works, runs
#      scripts/orbax_interop.py: checkpoints written by real Orbax are read by
#      ockpt, and checkpoints ockpt writes (zarr2, zarr3, v1, no OCDBT,
#      composite, manager steps; every dtype, PRNG keys, strings) are restored
#      by real Orbax's v0 and v1 APIs, values compared; Orbax and ockpt write
#      the same trees and every JSON file and zarr metadata is diffed.
# Without a GPU (or with --cpu-only) the same steps run on the host staging
# backend (--device host), the GPU test binary is not built, and the exit
# status is 0 when everything that can run here passed.
#
# Results go to $OUT (default ./gpu-check-out): summary.txt, summary.json and
# one log per step. Scratch data (about 5x --gib) goes to $OUT/work, removed
# at the end unless --keep. Exit 0 when every step passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=auto
build_dir=build-gpu
do_build=1
gib=""
keep=0
out=${OUT:-./gpu-check-out}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-only) mode=cpu ;;
    --gpu) mode=gpu ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --gib) gib=$2; shift ;;
    --out) out=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $mode == auto ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then mode=gpu; else mode=cpu; fi
fi
if [[ $mode == gpu ]]; then device=cuda:0; gib=${gib:-4}; else device=host; gib=${gib:-1}; fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
summary="$out/summary.txt"
: >"$summary"
json_parts=()
failed=0

say() { echo "$*" | tee -a "$summary"; }
record() {  # record NAME STATUS [DETAIL]
  local name=$1 status=$2 detail=${3:-}
  say "$(printf '%-44s %s%s' "$name" "$status" "${detail:+  ($detail)}")"
  json_parts+=("\"$name\": {\"status\": \"$status\", \"detail\": $(printf '%s' "$detail" | json_string)}")
  [[ $status == FAIL ]] && failed=1
  return 0
}
json_string() { python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))' 2>/dev/null || echo '""'; }
now() { date +%s.%N; }
gbs() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", b / s / 1e9; else print "inf" }'; }

say "gpu-check: mode $mode, device $device, ${gib} GiB checkpoint, build $build_dir, results in $out"
say "gpu-check: $(uname -srm); $(nproc) cores; $(free -g | awk '/Mem:/ {print $2 " GiB memory"}')"
if [[ $mode == gpu ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.current,pcie.link.width.current \
    --format=csv 2>&1 | tee -a "$summary"
fi

# ---- 1. build ----
ockpt="$build_dir/apps/ockpt/ockpt"
bench="$build_dir/tests/lib/staging/ockpt_staging_bench"
targets=(ockpt ockpt_staging_bench lib_staging_test lib_staging_pipeline_test)
if [[ $do_build -eq 1 ]]; then
  flags=(-DCMAKE_BUILD_TYPE=Release -DOCKPT_BUILD_TESTS=ON)
  if [[ $mode == gpu ]]; then
    flags+=(-DOCKPT_CUDA=ON -DOCKPT_GPU_TESTS=ON)
    targets+=(lib_staging_cuda_test)
  fi
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  t0=$(now)
  if cmake -S . -B "$build_dir" "${gen[@]}" "${flags[@]}" >"$out/build.log" 2>&1 &&
     cmake --build "$build_dir" --target "${targets[@]}" -j "$(nproc)" >>"$out/build.log" 2>&1; then
    record build PASS "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f s", b-a}'); $(grep -m1 'CUDA staging backend' "$out/build.log" | sed 's/^-- //')"
  else
    record build FAIL "see build.log"
    tail -20 "$out/build.log"
    exit 1
  fi
fi
if [[ ! -x $ockpt || ! -x $bench ]]; then
  record binaries FAIL "$ockpt or $bench missing (build first or drop --no-build)"
  exit 1
fi

# ---- 2. tests ----
run_test() {  # run_test NAME BINARY
  local name=$1 bin=$2
  if [[ ! -x $bin ]]; then record "$name" FAIL "$bin not built"; return; fi
  if "$bin" >"$out/$name.log" 2>&1; then
    record "$name" PASS "$(grep -E '^All tests passed|test cases' "$out/$name.log" | tail -1)"
  else
    record "$name" FAIL "see $name.log: $(grep -E 'test cases' "$out/$name.log" | tail -1)"
  fi
}
run_test lib_staging_test "$build_dir/tests/lib/staging/lib_staging_test"
run_test lib_staging_pipeline_test "$build_dir/tests/lib/staging/lib_staging_pipeline_test"
if [[ $mode == gpu ]]; then
  OCKPT_GPU_TEST_GIB=${OCKPT_GPU_TEST_GIB:-3} run_test lib_staging_cuda_test "$build_dir/tests/lib/staging/lib_staging_cuda_test"
else
  say "lib_staging_cuda_test                        not run (no GPU: the CUDA tests are built only with -DOCKPT_GPU_TESTS=ON)"
  # What this build does with --device cuda when there is no GPU: exit 6.
  "$ockpt" restore "$root/tests/data/golden/orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata" \
    "$work/cuda-probe" --device cuda >/dev/null 2>"$out/cuda-probe.log"
  rc=$?
  if [[ $rc -eq 6 ]]; then record "restore --device cuda without a GPU" PASS "exit 6: $(head -c 200 "$out/cuda-probe.log")"
  else record "restore --device cuda without a GPU" FAIL "exit $rc, expected 6"; fi
fi

# ---- 3. bandwidth ----
bench_mib=$((gib >= 1 ? 1024 : 256))
if "$bench" --device "$device" --mib "$bench_mib" >"$out/bench.json" 2>"$out/bench.log"; then
  read -r pinned_h2d pinned_d2h staged_h2d staged_d2h memcpy_gbs < <(python3 -c '
import json,sys; j=json.load(open(sys.argv[1]))
print(j["pinned_h2d_gbs"], j["pinned_d2h_gbs"], j["staged_h2d_gbs"], j["staged_d2h_gbs"], j["memcpy_gbs"])' "$out/bench.json")
  record "bandwidth ($device)" PASS "pinned H2D $pinned_h2d GB/s, D2H $pinned_d2h GB/s; ring H2D $staged_h2d GB/s, D2H $staged_d2h GB/s; memcpy $memcpy_gbs GB/s"
else
  pinned_h2d=0
  record "bandwidth ($device)" FAIL "$(head -c 300 "$out/bench.log")"
fi

# ---- 4. a multi-GiB checkpoint through device memory ----
py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$p" -c 'import numpy' >/dev/null 2>&1; then py=$p; break; fi
done
if [[ -z $py ]]; then
  record "big checkpoint" FAIL "no python3 with numpy to generate the arrays"
else
  src="$work/big_src"
  "$py" - "$src" "$gib" <<'EOF'
import json, os, sys
import numpy as np
out, gib = sys.argv[1], float(sys.argv[2])
total = int(gib * (1 << 30))
os.makedirs(os.path.join(out, "params"), exist_ok=True)
leaves = []
# Four large leaves (float32, bfloat16 bits, int8, float16) plus small ones.
parts = [("params/w0", "<f4", "float32", 0.4), ("params/w1", "<u2", "bfloat16", 0.3),
         ("params/w2", "|i1", "int8", 0.2), ("params/w3", "<f2", "float16", 0.1)]
for i, (name, descr, dtype, frac) in enumerate(parts):
    item = np.dtype(descr).itemsize
    cols = 4096
    rows = max(1, int(total * frac) // (cols * item))
    a = np.lib.format.open_memmap(os.path.join(out, name + ".npy"), mode="w+", dtype=descr, shape=(rows, cols))
    step = max(1, (16 << 20) // cols)
    udt = {1: "|u1", 2: "<u2", 4: "<u4"}[item]
    for r in range(0, rows, step):
        n = min(step, rows - r)
        block = (np.arange(r * cols, (r + n) * cols, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(i)) >> np.uint64(7)
        a[r:r + n] = (block & np.uint64((1 << (8 * item)) - 1)).astype(udt).view(descr).reshape(n, cols)
    a.flush()
    leaves.append({"keypath": [{"key": "params", "type": "dict"}, {"key": name.split("/")[1], "type": "dict"}],
                   "name": name.replace("/", "."), "value_type": "jax.Array", "dtype": dtype, "shape": [rows, cols]})
np.save(os.path.join(out, "step.npy"), np.array(7, dtype=np.int64))
leaves.append({"keypath": [{"key": "step", "type": "dict"}], "name": "step", "value_type": "np.ndarray",
               "dtype": "int64", "shape": []})
with open(os.path.join(out, "_tree.json"), "w") as f:
    json.dump({"leaves": leaves, "custom_metadata": None}, f)
EOF
  if [[ $? -ne 0 ]]; then
    record "big checkpoint" FAIL "generating the arrays failed"
  else
    ckpt="$work/big_ckpt"
    t0=$(now)
    if "$ockpt" --no-progress save "$src" "$ckpt" --chunk-bytes $((256 << 20)) >"$out/big-save.log" 2>&1; then
      record "save ${gib} GiB (cpu)" PASS "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f s", b-a}')"
    else
      record "save ${gib} GiB (cpu)" FAIL "see big-save.log"
    fi
    bytes=$(du -sb "$src" | cut -f1)
    ckpt_bytes=$(du -sb "$ckpt" | cut -f1)
    # Page-cache read speed of the checkpoint's files (second pass: cached).
    find "$ckpt" -type f -exec cat {} + >/dev/null
    t0=$(now); find "$ckpt" -type f -exec cat {} + >/dev/null; t1=$(now)
    cache_gbs=$(gbs "$ckpt_bytes" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
    record "page-cache read (cat)" PASS "$ckpt_bytes bytes at $cache_gbs GB/s"

    t0=$(now)
    "$ockpt" --no-progress restore "$ckpt" "$work/out_cpu" >"$out/restore-cpu.log" 2>&1
    rc_cpu=$?
    t1=$(now)
    cpu_gbs=$(gbs "$bytes" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
    "$ockpt" --no-progress restore "$ckpt" "$work/out_dev" --device "$device" >"$out/restore-device.log" 2>&1
    rc_dev=$?
    t2=$(now)
    dev_gbs=$(gbs "$bytes" "$(awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}')")
    if [[ $rc_cpu -eq 0 && $rc_dev -eq 0 ]] && diff -r -q "$work/out_cpu" "$work/out_dev" >"$out/restore-cmp.log" 2>&1 &&
       grep -q "device copies match the host bytes" "$out/restore-device.log"; then
      record "restore --device $device" PASS "$dev_gbs GB/s end to end (cpu path $cpu_gbs GB/s; pinned H2D ${pinned_h2d} GB/s; page cache $cache_gbs GB/s)"
    else
      record "restore --device $device" FAIL "exit $rc_cpu/$rc_dev; see restore-*.log"
    fi
    sed 's/^/    /' "$out/restore-device.log" | tee -a "$summary"
    rm -rf "$work/out_dev"

    t0=$(now)
    "$ockpt" --no-progress save "$work/out_cpu" "$work/ck_dev" --device "$device" --chunk-bytes $((256 << 20)) >"$out/save-device.log" 2>&1
    rc=$?
    save_gbs=$(gbs "$bytes" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{print b-a}')")
    if [[ $rc -eq 0 ]] && "$ockpt" diff "$ckpt" "$work/ck_dev" >"$out/save-diff.log" 2>&1; then
      record "save --device $device" PASS "$save_gbs GB/s end to end; same values as the source (ockpt diff)"
    else
      record "save --device $device" FAIL "exit $rc; see save-device.log, save-diff.log"
    fi
    sed 's/^/    /' "$out/save-device.log" | tee -a "$summary"
  fi
fi

# ---- 5. real Orbax ----
orbax_py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$p" -c 'import orbax.checkpoint' >/dev/null 2>&1; then orbax_py=$p; break; fi
done
if [[ -z $orbax_py ]]; then
  record "orbax interop" SKIP "orbax.checkpoint is not importable here (python3 -c 'import orbax.checkpoint' failed); run on a machine with JAX + orbax-checkpoint"
else
  interop_device=$device
  "$orbax_py" scripts/orbax_interop.py --ockpt "$ockpt" --work "$work/interop" --device "$interop_device" >"$out/orbax-interop.log" 2>&1
  rc=$?
  if [[ $rc -eq 0 ]]; then record "orbax interop" PASS "$(tail -1 "$out/orbax-interop.log")"
  elif [[ $rc -eq 77 ]]; then record "orbax interop" SKIP "$(head -1 "$out/orbax-interop.log")"
  else record "orbax interop" FAIL "$(tail -1 "$out/orbax-interop.log"); see orbax-interop.log"; fi
  grep -E '^(PASS|FAIL|SKIP)' "$out/orbax-interop.log" | sed 's/^/    /' | tee -a "$summary"
fi

{
  echo "{\"mode\": \"$mode\", \"device\": \"$device\", \"gib\": $gib, \"failed\": $failed,"
  echo " \"bench\": $(cat "$out/bench.json" 2>/dev/null || echo null),"
  echo " \"steps\": {"
  for i in "${!json_parts[@]}"; do
    sep=","; [[ $i -eq $((${#json_parts[@]} - 1)) ]] && sep=""
    echo "  ${json_parts[$i]}$sep"
  done
  echo " }}"
} >"$out/summary.json"

[[ $keep -eq 1 ]] || rm -rf "$work"
if [[ $failed -eq 0 ]]; then say "gpu-check: all steps passed ($mode)"; else say "gpu-check: some steps FAILED ($mode)"; fi
exit $failed
