#!/usr/bin/env bash
# Builds the llama.cpp cross-validation harness (tests/crossval/llama_harness.c) into
# build/crossval/llama_harness, against the reference headers and prebuilt libraries that
# scripts/fetch_reference.sh caches (fetched here when missing). Rebuilds only when the
# source (or our tracer/library, when it is linked) is newer than the binary.
# Prints the harness path on success. Env: CC, BITNET_BUILD (default build), BITNET_REF_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/${BITNET_BUILD:-build}"
REF_DIR=${BITNET_REF_DIR:-$ROOT/.cache/reference}
SRC="$ROOT/tests/crossval/llama_harness.c"
OUT="$BUILD/crossval/llama_harness"
CC=${CC:-cc}

if [ ! -f "$REF_DIR/.complete" ]; then
    "$ROOT/scripts/fetch_reference.sh" >/dev/null
fi
LIB="$REF_DIR/lib"
INC="$REF_DIR/llama.cpp"
for f in "$LIB/libllama.v0.4.0.so" "$LIB/libggml.v0.4.0.so" "$LIB/libggml-base.so" "$INC/include/llama.h"; do
    [ -f "$f" ] || { echo "build_harness: missing $f (re-run scripts/fetch_reference.sh)" >&2; exit 1; }
done

# Our tracer (src/debug/trace.h, in build/libbitnet.a) is linked when it exists; without it the
# harness builds with a `trace` subcommand that says it is unavailable.
TRACE_FLAGS=() TRACE_LIBS=() DEPS=("$SRC")
if [ -f "$ROOT/src/debug/trace.h" ] && [ -f "$BUILD/libbitnet.a" ] && nm "$BUILD/libbitnet.a" 2>/dev/null | grep ' T bn_tracer_open$' >/dev/null; then
    TRACE_FLAGS=(-DBN_HAVE_TRACER -I"$ROOT/include" -I"$ROOT/src")
    TRACE_LIBS=("$BUILD/libbitnet.a" -lm -pthread)
    DEPS+=("$ROOT/src/debug/trace.h" "$BUILD/libbitnet.a")
    # A sanitizer build of the library (BITNET_BUILD=build-asan / build-tsan) needs the same
    # runtime in the harness.
    if nm "$BUILD/libbitnet.a" 2>/dev/null | grep ' U __asan_' >/dev/null; then
        TRACE_LIBS+=(-fsanitize=address,undefined)
    elif nm "$BUILD/libbitnet.a" 2>/dev/null | grep ' U __tsan_' >/dev/null; then
        TRACE_LIBS+=(-fsanitize=thread)
    fi
fi

# One build at a time (the test runner runs scripts side by side, and two of them build it):
# the check and the build below happen under a lock next to the output.
mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
flock 9
stale=0
[ -x "$OUT" ] || stale=1
for d in "${DEPS[@]}"; do [ "$d" -nt "$OUT" ] && stale=1; done
# A harness built without the tracer is stale once the tracer exists.
if [ ${#TRACE_FLAGS[@]} -gt 0 ] && [ -f "$OUT.notrace" ]; then stale=1; fi

if [ "$stale" = 1 ]; then
    # Warnings as errors under CI, like the rest of the project.
    WERR=(); [ "${CI:-}" = true ] && WERR=(-Werror)
    "$CC" -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes "${WERR[@]}" -D_GNU_SOURCE \
        -DREF_LIB_DIR="\"$LIB\"" -I"$INC/include" -I"$INC/ggml/include" "${TRACE_FLAGS[@]}" \
        -o "$OUT.tmp" "$SRC" "${TRACE_LIBS[@]}" \
        "$LIB/libllama.v0.4.0.so" "$LIB/libggml.v0.4.0.so" "$LIB/libggml-base.so" -lm -Wl,-rpath,"$LIB"
    mv "$OUT.tmp" "$OUT"
    if [ ${#TRACE_FLAGS[@]} -gt 0 ]; then rm -f "$OUT.notrace"; else touch "$OUT.notrace"; fi
fi
echo "$OUT"
