#!/usr/bin/env bash
# ockpt restore/save --device end to end: `host` runs the staging pipeline
# (host memory as the device) and gives byte-identical output; cuda without a
# usable GPU (or without CUDA support in the build) fails with exit 6 and a
# clear message; bad device names are usage errors.
# Usage: device_cli_test.sh OCKPT GOLDEN_DIR
set -u
ockpt=$1
golden=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

expect() {  # expect CODE DESCRIPTION -- CMD...
  local want=$1 desc=$2
  shift 3
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [[ $rc -eq $want ]]; then ok; else bad "$desc: exit $rc, expected $want: $(head -c 400 "$tmp/stderr")"; fi
}

stderr_has() {  # stderr_has DESCRIPTION REGEX
  if grep -Eq -e "$2" "$tmp/stderr"; then ok; else bad "$1: stderr lacks /$2/: $(head -c 400 "$tmp/stderr")"; fi
}

direct="$golden/orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"

# Restore: the host staging path writes the same files and checks every leaf.
expect 0 "restore --device cpu" -- "$ockpt" restore "$direct" "$tmp/cpu"
expect 0 "restore --device host" -- "$ockpt" restore "$direct" "$tmp/host" --device host
stderr_has "restore --device host report" "GB/s"
stderr_has "restore --device host verification" "device copies match the host bytes"
if diff -r "$tmp/cpu" "$tmp/host" >/dev/null; then ok; else bad "restore --device host output differs from --device cpu"; fi
expect 0 "restore --device host --quiet" -- "$ockpt" --quiet restore "$direct" "$tmp/hostq" --device host
if [[ ! -s "$tmp/stderr" ]]; then ok; else bad "--quiet restore --device host printed: $(head -c 200 "$tmp/stderr")"; fi
expect 0 "restore --device host to .npz" -- "$ockpt" restore "$direct" "$tmp/host.npz" --device host
expect 0 "restore --device host with a cast" -- "$ockpt" restore "$direct" "$tmp/host64" --device host --dtype float64

# Save: arrays go up to the (host) device first and are saved from there.
expect 0 "save --device cpu" -- "$ockpt" save "$tmp/cpu" "$tmp/ck_cpu"
expect 0 "save --device host" -- "$ockpt" save "$tmp/cpu" "$tmp/ck_host" --device host
stderr_has "save --device host report" "GB/s"
expect 0 "saved from the device = saved from the host" -- "$ockpt" diff "$tmp/ck_cpu" "$tmp/ck_host"
expect 0 "save --device host --zarr3 --step" -- "$ockpt" save "$tmp/cpu" "$tmp/root" --step 3 --zarr3 --device host
expect 0 "zarr3 step = source" -- "$ockpt" diff "$tmp/root" "$tmp/cpu"

# CUDA: without a GPU (as here) or without CUDA support, exit 6 and say why.
if [[ -z "${OCKPT_TEST_HAVE_GPU:-}" ]]; then
  expect 6 "restore --device cuda without a GPU" -- "$ockpt" restore "$direct" "$tmp/cuda" --device cuda
  stderr_has "restore --device cuda message" "device cuda: (no CUDA device|this build of ockpt has no CUDA support)"
  if [[ ! -e "$tmp/cuda" ]]; then ok; else bad "restore --device cuda left $tmp/cuda"; fi
  expect 6 "restore --device cuda:1 without a GPU" -- "$ockpt" restore "$direct" "$tmp/cuda1" --device cuda:1
  expect 6 "save --device cuda without a GPU" -- "$ockpt" save "$tmp/cpu" "$tmp/ck_cuda" --device cuda:0
  stderr_has "save --device cuda message" "no CUDA"
  if [[ ! -e "$tmp/ck_cuda" ]]; then ok; else bad "save --device cuda left $tmp/ck_cuda"; fi
fi

# Bad names are usage errors.
expect 2 "restore --device tpu" -- "$ockpt" restore "$direct" "$tmp/tpu" --device tpu
expect 2 "restore --device cuda:x" -- "$ockpt" restore "$direct" "$tmp/cx" --device cuda:x
expect 2 "save --device gpu" -- "$ockpt" save "$tmp/cpu" "$tmp/ck_gpu" --device gpu

echo "device_cli_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
