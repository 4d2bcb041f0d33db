#!/usr/bin/env bash
# Fetches and caches the reference llama.cpp (../shared/docs/REFERENCE.md) from the npm
# registry: the source bundle of node-llama-cpp@3.21.1 (headers, gguf-py, vocab GGUFs) and
# the prebuilt libraries of @node-llama-cpp/linux-x64@3.21.1. Nothing is installed globally.
#
# Result (REF_DIR, default .cache/reference under the repository):
#   $REF_DIR/llama.cpp/   the llama.cpp source tree (include/, ggml/include/, gguf-py/, models/)
#   $REF_DIR/lib/         libllama.v0.4.0.so, libggml*.so (the CPU backends)
# Prints REF_DIR on success; exits non-zero with a message when the registry is unreachable.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF_DIR=${BITNET_REF_DIR:-$ROOT/.cache/reference}
NLC_VERSION=3.21.1

if [ -f "$REF_DIR/.complete" ]; then echo "$REF_DIR"; exit 0; fi
command -v npm >/dev/null || { echo "fetch_reference: npm is not installed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$REF_DIR/dl"
cd "$REF_DIR/dl"
for pkg in "node-llama-cpp@$NLC_VERSION" "@node-llama-cpp/linux-x64@$NLC_VERSION"; do
    base=$(echo "$pkg" | sed -e 's|^@||' -e 's|/|-|' -e 's|@|-|')
    if [ ! -f "$base.tgz" ]; then
        echo "fetch_reference: npm pack $pkg" >&2
        npm pack --silent "$pkg" >/dev/null || { echo "fetch_reference: could not fetch $pkg from the npm registry" >&2; exit 1; }
    fi
done
rm -rf src bins && mkdir src bins
tar xzf "node-llama-cpp-$NLC_VERSION.tgz" -C src
tar xzf "node-llama-cpp-linux-x64-$NLC_VERSION.tgz" -C bins
rm -rf "$REF_DIR/llama.cpp" "$REF_DIR/lib"
git clone -q src/package/llama/gitRelease.bundle "$REF_DIR/llama.cpp" 2>/dev/null
mkdir -p "$REF_DIR/lib"
cp bins/package/bins/linux-x64/*.so "$REF_DIR/lib/"
rm -rf src bins
touch "$REF_DIR/.complete"
echo "$REF_DIR"
