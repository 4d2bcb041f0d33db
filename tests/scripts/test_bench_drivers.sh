#!/usr/bin/env bash
# The per-kernel bench drivers (bench/kernel_bench, bench/attention_bench) build warning-free
# (-Werror, as CI builds the rest) and run a small case to the end. Their speeds are not
# checked here: speed lives in `make bench` and docs/KERNELS.md.
source "$(dirname "$0")/lib.sh"
log="$TMP/build.log"
if BENCH_OUT="$TMP" BENCH_CFLAGS=-Werror "$ROOT/bench/build.sh" >"$log" 2>&1; then
    ok build_werror
else
    not_ok build_werror "$(grep -E 'error|warning' "$log" | head -10)"
    exit 0
fi
# depth 600: two key segments, the second cut short; 3 heads on 2 threads; in cache
out=$("$TMP/attention_bench" 600 2 3 0 2>&1)
if [[ "$out" =~ "depth 600, 3 KV heads x 2 segments, 2 thread(s)".*"GB/s" ]]; then ok attention_bench; else not_ok attention_bench "$out"; fi
if "$TMP/attention_bench" 0 >/dev/null 2>&1; then not_ok attention_bench_usage "depth 0 was accepted"; else ok attention_bench_usage; fi
# prefill items: 16 tokens x 4 heads ending at position 599 (the first rows cross a segment)
out=$("$TMP/attention_bench" 600 2 3 0 16 2>&1)
if [[ "$out" =~ "16 tokens x 4 query heads at positions 584-599, 3 KV heads, 2 thread(s)".*"GFLOP/s" ]]; then
    ok attention_bench_prefill
else
    not_ok attention_bench_prefill "$out"
fi
if "$TMP/attention_bench" 8 1 1 0 16 >/dev/null 2>&1; then not_ok attention_bench_tokens "16 tokens at depth 8 were accepted"; else ok attention_bench_tokens; fi
out=$("$TMP/kernel_bench" 256 2>&1)
if grep -q 'screened head copy of 256x2560' <<<"$out" && grep -q 'scalar' <<<"$out"; then ok kernel_bench; else not_ok kernel_bench "$(tail -5 <<<"$out")"; fi
