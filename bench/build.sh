#!/usr/bin/env bash
# Builds bench/kernel_bench against build/libbitnet.a (run `make lib` first).
set -eu
cd "$(dirname "$0")/.."
${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Iinclude -Isrc -D_GNU_SOURCE -pthread \
    -o build/kernel_bench bench/kernel_bench.c build/libbitnet.a -lm -pthread
echo "built build/kernel_bench"
