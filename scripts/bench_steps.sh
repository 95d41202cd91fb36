#!/usr/bin/env bash
# Step-listing benchmark (not a test): generates a manager root of N steps
# (default 1,000), each as CheckpointManager writes it (_CHECKPOINT_METADATA,
# commit_success.txt, a `default` PyTree item with OCDBT, metrics/metrics),
# plus a few in-progress directories, then times `ockpt ls-steps ROOT --json`
# (cold-ish and warm page cache) and `ockpt gc --dry-run`. Prints a small
# table; nothing is asserted.
#   scripts/bench_steps.sh [OCKPT] [STEPS]     (default build/apps/ockpt/ockpt, 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
ockpt=${1:-build/apps/ockpt/ockpt}
steps=${2:-1000}
work=$(mktemp -d)  # set KEEP=1 to keep it (printed on stderr)
if [[ "${KEEP:-}" == 1 ]]; then echo "root kept in $work/root" >&2; else trap 'rm -rf "$work"' EXIT; fi
item=tests/data/golden/orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "generating a root of $steps steps ..." >&2
/usr/bin/python3 - "$work/root" "$item" "$steps" <<'PY'
import json, os, shutil, sys
root, item, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(root)
t0 = 1_700_000_000 * 10**9
handlers = {"default": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler",
            "metrics": "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler"}
for i in range(n):
    step = 100 * i
    d = os.path.join(root, str(step))
    shutil.copytree(item, os.path.join(d, "default"), ignore=shutil.ignore_patterns("_CHECKPOINT_METADATA"))
    os.makedirs(os.path.join(d, "metrics"))
    with open(os.path.join(d, "metrics", "metrics"), "w") as f:
        json.dump({"loss": 1.0 / (i + 1), "accuracy": i / n}, f)
    ts = t0 + i * 600 * 10**9
    with open(os.path.join(d, "_CHECKPOINT_METADATA"), "w") as f:
        json.dump({"item_handlers": handlers, "metrics": {}, "performance_metrics": {},
                   "init_timestamp_nsecs": ts - 10**9, "commit_timestamp_nsecs": ts, "custom_metadata": {}}, f)
    with open(os.path.join(d, "commit_success.txt"), "w") as f:
        f.write(f"Checkpoint commit was successful to {d}")
for name in (f"{100 * n}.orbax-checkpoint-tmp", f"{100 * n + 100}.orbax-checkpoint-tmp-1700000000"):
    shutil.copytree(item, os.path.join(root, name))
PY
# A best effort at a cold cache: drop what we can (needs root; harmless otherwise).
sync
(echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null || true
files=$(find "$work/root" -type f | wc -l)

t0=$(now); "$ockpt" ls-steps "$work/root" --json >"$work/out.json"; t1=$(now)
first=$(secs "$t0" "$t1")
best=999
for _ in 1 2 3; do
  t0=$(now); "$ockpt" ls-steps "$work/root" --json >/dev/null; t1=$(now)
  best=$(awk -v a="$best" -v b="$(secs "$t0" "$t1")" 'BEGIN { print (b < a) ? b : a }')
done
t0=$(now); "$ockpt" ls-steps "$work/root" >/dev/null; t1=$(now)
text=$(secs "$t0" "$t1")
t0=$(now); "$ockpt" gc "$work/root" --max-to-keep 5 --keep-period 10000 --dry-run --json >/dev/null; t1=$(now)
gc=$(secs "$t0" "$t1")
listed=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["steps"]), len(d["tmp"]), d["latest_step"])' "$work/out.json")

printf '%-40s %s\n' "steps / tmp dirs / latest listed" "$listed"
printf '%-40s %s\n' "files in the root" "$files"
printf '%-40s %ss\n' "ls-steps --json (first run)" "$first"
printf '%-40s %ss\n' "ls-steps --json (warm, best of 3)" "$best"
printf '%-40s %ss\n' "ls-steps (text)" "$text"
printf '%-40s %ss\n' "gc --dry-run --json" "$gc"
