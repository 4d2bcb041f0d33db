#!/usr/bin/env bash
# Builds bench/kernel_bench and bench/attention_bench against $BITNET_BUILD/libbitnet.a
# (BITNET_BUILD defaults to build; run `make lib` first) into $BENCH_OUT (default: the same
# folder), with $BENCH_CFLAGS added (tests/scripts/test_bench_drivers.sh passes -Werror).
set -eu
cd "$(dirname "$0")/.."
lib="${BITNET_BUILD:-build}/libbitnet.a"
out="${BENCH_OUT:-${BITNET_BUILD:-build}}"
for b in kernel_bench attention_bench; do
    # shellcheck disable=SC2086 # BENCH_CFLAGS is a list of flags
    ${CC:-cc} -std=c11 -O2 -g -Wall -Wextra ${BENCH_CFLAGS:-} -Iinclude -Isrc -D_GNU_SOURCE -pthread \
        -o "$out/$b" "bench/$b.c" "$lib" -lm -pthread
    echo "built $out/$b"
done
