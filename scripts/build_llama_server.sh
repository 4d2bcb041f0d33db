#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` once from the reference source bundle
# (scripts/fetch_reference.sh, ../shared/docs/REFERENCE.md) into a cache folder, for
# `make bench-serve`. About 20+ minutes on 2 cores the first time; afterwards it only prints
# the path. Never part of `make test`.
#
# Result: $CACHE/bin/llama-server (CACHE = BITNET_LLAMA_SERVER_DIR, default
# .cache/llama-server under the repository), a native (-march=native) Release build, static
# (no rpath to keep right), no OpenSSL, no web UI (nothing is downloaded).
# Prints the binary's path on success.
# Env: BITNET_REF_DIR, BITNET_LLAMA_SERVER_DIR, BUILD_JOBS (default 2), NICE (default 10).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF_DIR=${BITNET_REF_DIR:-$ROOT/.cache/reference}
CACHE=${BITNET_LLAMA_SERVER_DIR:-$ROOT/.cache/llama-server}
JOBS=${BUILD_JOBS:-2}
NICE=${NICE:-10}
BIN="$CACHE/bin/llama-server"

if [ ! -f "$REF_DIR/.complete" ]; then
    "$ROOT/scripts/fetch_reference.sh" >/dev/null
fi
SRC="$REF_DIR/llama.cpp"
[ -f "$SRC/tools/server/CMakeLists.txt" ] || { echo "build_llama_server: no llama.cpp source at $SRC (re-run scripts/fetch_reference.sh)" >&2; exit 1; }
COMMIT=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)

# Built already from this source (and for this CPU: -march=native)?
STAMP="$COMMIT $(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //') $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | md5sum | cut -c1-8)"
if [ -x "$BIN" ] && [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$STAMP" ]; then
    echo "$BIN"; exit 0
fi

command -v cmake >/dev/null || { echo "build_llama_server: cmake is not installed (apt-get install cmake)" >&2; exit 1; }
command -v c++ >/dev/null || { echo "build_llama_server: no C++ compiler (apt-get install g++)" >&2; exit 1; }
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)

mkdir -p "$CACHE"
echo "build_llama_server: building llama-server from $SRC ($COMMIT) into $CACHE (-j$JOBS; ~20 min on 2 cores)" >&2
start=$(date +%s)
# A build folder configured by another generator cannot be reused.
if [ -f "$CACHE/build/CMakeCache.txt" ] && ! grep -q "CMAKE_HOME_DIRECTORY:INTERNAL=$SRC\$" "$CACHE/build/CMakeCache.txt"; then
    rm -rf "$CACHE/build"
fi
nice -n "$NICE" cmake -S "$SRC" -B "$CACHE/build" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    >"$CACHE/configure.log" 2>&1 || { tail -30 "$CACHE/configure.log" >&2; echo "build_llama_server: cmake configure failed (log: $CACHE/configure.log)" >&2; exit 1; }
nice -n "$NICE" cmake --build "$CACHE/build" --target llama-server -j "$JOBS" \
    >"$CACHE/build.log" 2>&1 || { tail -30 "$CACHE/build.log" >&2; echo "build_llama_server: build failed (log: $CACHE/build.log)" >&2; exit 1; }
mkdir -p "$CACHE/bin"
cp "$CACHE/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$STAMP" >"$CACHE/stamp"
echo "build_llama_server: built in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
