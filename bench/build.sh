#!/usr/bin/env bash
# Builds bench/kernel_bench and bench/attention_bench against build/libbitnet.a (run `make lib` first).
set -eu
cd "$(dirname "$0")/.."
for b in kernel_bench attention_bench; do
    ${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Iinclude -Isrc -D_GNU_SOURCE -pthread \
        -o "build/$b" "bench/$b.c" build/libbitnet.a -lm -pthread
    echo "built build/$b"
done
