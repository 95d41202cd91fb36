#!/usr/bin/env bash
# Installs every Debian package ockpt needs to build and test, then builds.
#   scripts/setup.sh            install + configure + build (build/)
#   scripts/setup.sh --no-build install only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libcli11-dev nlohmann-json3-dev libfmt-dev libzstd-dev zlib1g-dev
  libblosc-dev libisal-dev libssl-dev libmsgpack-cxx-dev libboost-dev
  libhdf5-dev libzip-dev catch2 libcurl4-openssl-dev
  libopenmpi-dev openmpi-bin
  python3 python3-numpy python3-h5py python3-zarr python3-msgpack
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Node.js and npm for the S3 server of the remote-path tests and neuroglancer's
# reader: optional, and only from Debian when no node/npm is there already (a
# NodeSource nodejs bundles npm, and Debian's npm package conflicts with it).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing nodejs npm (optional)" >&2
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      --no-install-recommends nodejs npm >&2; } ||
    echo "setup: nodejs/npm not installed; the remote tests will skip" >&2
fi

# The S3 server the remote-path tests start on 127.0.0.1 (tests/cli/remote_test.py),
# into the git-ignored .deps/npm; the tests skip (77) without it.
if command -v npm >/dev/null && [[ ! -e .deps/npm/node_modules/s3rver/bin/s3rver.js ]]; then
  npm install --prefix .deps/npm --no-audit --no-fund s3rver@3.7.1 >&2 || echo "setup: npm install s3rver failed; remote tests will skip" >&2
fi

if [[ "${1:-}" == "--no-build" ]]; then exit 0; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
cmake --build build >&2
