#!/usr/bin/env bash
# CLI contract checks: exit codes, one JSON document on stdout, messages on
# stderr, refusals. Usage: cli_contract_test.sh OCKPT GOLDEN_DIR
set -u
ockpt=$1
golden=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

expect() {  # expect CODE DESCRIPTION -- CMD...
  local want=$1 desc=$2
  shift 3
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [[ $rc -eq $want ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $desc: exit $rc, expected $want: $(head -c 300 "$tmp/stderr")"
  fi
}

is_json() {  # is_json DESCRIPTION
  if $py -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/stdout" 2>/dev/null; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $1: stdout is not one JSON document"
  fi
}

direct="$golden/orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"
managed="$golden/orbax_managed/v0_managed/has_metrics/has_custom_metadata"

expect 0 "metadata text" -- "$ockpt" metadata "$direct"
grep -q "int32\[3\]" "$tmp/stdout" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL metadata text lacks int32[3]"; }
expect 0 "metadata json" -- "$ockpt" metadata "$direct" --json
is_json "metadata json"
expect 0 "root metadata json" -- "$ockpt" metadata "$managed" --json
is_json "root metadata json"
expect 3 "missing path" -- "$ockpt" metadata "$tmp/nope"
[[ -s "$tmp/stderr" ]] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL missing path: empty stderr"; }
expect 3 "not a checkpoint" -- "$ockpt" metadata "$tmp"
expect 3 "missing step" -- "$ockpt" metadata "$managed" --step 99
expect 3 "missing item" -- "$ockpt" metadata "$managed" --item nope
expect 2 "bad flag" -- "$ockpt" metadata "$direct" --bogus
expect 2 "no command" -- "$ockpt"
expect 0 "version" -- "$ockpt" --version
expect 0 "restore" -- "$ockpt" restore "$direct" "$tmp/out"
expect 5 "restore over existing output" -- "$ockpt" restore "$direct" "$tmp/out"
expect 3 "restore nothing selected" -- "$ockpt" restore "$direct" "$tmp/out2" --select 'zz*'
expect 2 "restore bad dtype" -- "$ockpt" restore "$direct" "$tmp/out3" --dtype float13
expect 6 "restore to cuda without a GPU build" -- "$ockpt" restore "$direct" "$tmp/out4" --device cuda
expect 0 "restore with lossy cast" -- "$ockpt" restore "$direct" "$tmp/out5" --dtype float16
grep -q "warning" "$tmp/stderr" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL lossy cast printed no warning"; }
expect 4 "restore damaged" -- "$ockpt" restore \
  "$golden/orbax_compat/v0_checkpoints/direct_checkpoint/critical_metadata_alterations/missing_pytree_data_dir_d" "$tmp/out6"
expect 0 "ocdbt ls" -- "$ockpt" ocdbt ls "$direct" --json
is_json "ocdbt ls"
expect 0 "ocdbt versions" -- "$ockpt" ocdbt versions "$direct/ocdbt.process_0" --json
is_json "ocdbt versions"
expect 0 "ocdbt cat" -- "$ockpt" ocdbt cat "$direct" a/.zarray
grep -q '"zarr_format":2' "$tmp/stdout" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL ocdbt cat output"; }
expect 3 "ocdbt cat missing key" -- "$ockpt" ocdbt cat "$direct" nope

# A checkpoint whose value data files are gone: metadata still works, restore
# exits 4 and names the missing file.
mkdir -p "$tmp/bigsrc"
$py -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(1).standard_normal(50000).astype(np.float32))" "$tmp/bigsrc/w.npy"
expect 0 "save with out-of-line values" -- "$ockpt" save "$tmp/bigsrc" "$tmp/big"
rm -f "$tmp"/big/ocdbt.process_0/d/*
expect 0 "metadata without value files" -- "$ockpt" metadata "$tmp/big" --json
is_json "metadata without value files"
expect 4 "restore without value files" -- "$ockpt" restore "$tmp/big" "$tmp/bigout"
grep -q "ocdbt.process_0/d/" "$tmp/stderr" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL restore error does not name the missing data file: $(cat "$tmp/stderr")"; }
expect 0 "ocdbt ls without value files" -- "$ockpt" ocdbt ls "$tmp/big" --json
expect 4 "ocdbt ls --sha256 without value files" -- "$ockpt" ocdbt ls "$tmp/big" --json --sha256
expect 1 "verify without value files" -- "$ockpt" verify "$tmp/big"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
