#!/usr/bin/env bash
# Installs, builds, and runs ockpt on the included example checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ockpt=build/apps/ockpt/ockpt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set -x
"$ockpt" metadata examples/standard_checkpoint
"$ockpt" metadata examples/manager_root
"$ockpt" restore examples/manager_root "$out/restored"
find "$out/restored" -type f | sort
/usr/bin/python3 -c "import numpy as np, sys; print(np.load(sys.argv[1]))" "$out/restored/state/b/c.npy"
