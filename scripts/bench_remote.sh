#!/usr/bin/env bash
# Remote restore vs curl (issue 13): a checkpoint of SIZE_MB (default 1024)
# in s3rver on 127.0.0.1, in two layouts (uncompressed 64 MiB chunks; zstd:1
# with one chunk per array, Orbax's default), restored with
# `ockpt restore s3://...`, against curl (SigV4) fetching the same objects,
# 16 at a time. Prints both times and
# the ratio (curl time / ockpt time; >= 0.8 is the goal). Each is run
# REPEAT times (default 3), alternating; the best time of each counts.
#   scripts/bench_remote.sh [SIZE_MB] [OCKPT] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
OCKPT=${2:-build/apps/ockpt/ockpt}
REPEAT=${3:-3}
PY=/usr/bin/python3
[[ -x $OCKPT ]] || { echo "bench_remote: build $OCKPT first" >&2; exit 1; }
[[ -e .deps/npm/node_modules/s3rver/bin/s3rver.js ]] || { echo "bench_remote: run scripts/setup.sh (s3rver)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ockpt-bench-remote-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
exec "$PY" - "$SIZE_MB" "$OCKPT" "$WORK" "$REPEAT" <<'PYEOF'
import os, subprocess, sys, time
sys.path.insert(0, "tests/cli")
import numpy as np
import remote_servers as rs
size_mb, ockpt, work, repeat = int(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3], int(sys.argv[4])
src = os.path.join(work, "src"); os.makedirs(src)
n = 8
per = size_mb * (1 << 20) // n // 4
rng = np.random.default_rng(0)
for i in range(n):
    np.save(os.path.join(src, "w%d.npy" % i), rng.standard_normal(per, dtype=np.float32))
# Two layouts: uncompressed in 64 MiB chunks (ranged GETs written into
# place), and Orbax's default, zstd level 1 with one chunk per array (each
# frame decoded from one streamed GET).
layouts = [("uncompressed, 64 MiB chunks", "plain", ["--compression", "none", "--chunk-bytes", str(64 << 20)]),
           ("zstd:1, one chunk per array", "zstd", [])]
for _, name, flags in layouts:
    subprocess.run([ockpt, "--no-progress", "save", src, os.path.join(work, name)] + flags, check=True)
script, why = rs.s3rver_script(os.getcwd())
server = rs.S3Server(script, work)
try:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=rs.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=rs.SECRET_KEY,
               AWS_REGION=rs.REGION, AWS_ENDPOINT_URL=server.endpoint, HOME=work)
    for label, name, _ in layouts:
        ckpt = os.path.join(work, name)
        rs.upload_tree(server.endpoint, "bucket", ckpt, name)
        keys = rs.list_keys(server.endpoint, "bucket", name + "/")
        total = 0
        for dirpath, _, files in os.walk(ckpt):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        urls = "\n".join("%s/bucket/%s" % (server.endpoint, k) for k in keys)
        out = os.path.join(work, "out")
        curl_times, ockpt_times = [], []
        for _ in range(repeat):
            t0 = time.time()
            subprocess.run("xargs -P 16 -n 1 curl -sf -o /dev/null -H x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 --aws-sigv4 aws:amz:%s:s3 --user %s:%s"
                           % (rs.REGION, rs.ACCESS_KEY, rs.SECRET_KEY), input=urls.encode(), shell=True, check=True)
            curl_times.append(time.time() - t0)
            subprocess.run(["rm", "-rf", out], check=True)
            subprocess.run(["sync"], check=True)
            t0 = time.time()
            subprocess.run([ockpt, "--no-progress", "restore", "s3://bucket/" + name, out], check=True, env=env)
            ockpt_times.append(time.time() - t0)
        for i in range(n):  # the restore is checked against its source
            subprocess.run(["cmp", os.path.join(src, "w%d.npy" % i), os.path.join(out, "w%d.npy" % i)], check=True)
        t_curl, t_ockpt = min(curl_times), min(ockpt_times)
        mb = total / (1 << 20)
        print("== %s: %d objects, %.0f MiB stored" % (label, len(keys), mb))
        print("runs (s): curl %s; ockpt %s" % (" ".join("%.2f" % t for t in curl_times),
                                              " ".join("%.2f" % t for t in ockpt_times)))
        print("curl (16 parallel), best: %.2f s (%.0f MiB/s)" % (t_curl, mb / t_curl))
        print("ockpt restore s3://, best: %.2f s (%.0f MiB/s)" % (t_ockpt, mb / t_ockpt))
        print("ratio (curl time / ockpt time): %.2f" % (t_curl / t_ockpt))
finally:
    server.stop()
PYEOF
