#!/usr/bin/env bash
# The avx2 tier's prefill by tables (src/kernels/ternary_lut_avx2.h) end to end: with
# BITNET_FORCE_TIER=avx2, a 72-token prompt's logits are the same bits whether the prompt is
# read in chunks of 64 (two blocks of 32 tokens through the tables, the 8 left on the other
# paths; the prefill's units an even share of each matrix per thread by a block of 32 tokens,
# the last one with the tokens left over: bn_kernel_prefill_units)
# or of 16 (no table path: blocks need 32 tokens), on 2 threads and on 1 (the whole matrix in
# one call), also in one chunk of 72, and a greedy continuation is the same token ids. The model's matrices have 512
# and 1024 rows, so each thread's share reaches the path's 256-row minimum.
# A CPU without AVX2 reports the test as skipped.
source "$(dirname "$0")/lib.sh"

m="$TMP/tables.gguf"
if ! "$BITNET" gen-model "$m" --arch bitnet-b1.58 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --ffn 1024 \
        --vocab-size 600 --wtype i2_s --seed 9 >"$TMP/gen.log" 2>&1; then
    not_ok gen_model "$(tail -3 "$TMP/gen.log")"
    exit 0
fi
tier=$(BITNET_FORCE_TIER=avx2 "$BITNET" logits -m "$m" --tokens 1 --out "$TMP/probe.bin" --verbose 2>&1 |
    sed -n 's/^session: kernel tier \([a-z0-9]*\),.*/\1/p')
if [ "$tier" != avx2 ]; then
    echo "ok - $SCRIPT_NAME/avx2 # SKIP this CPU has no avx2 tier (the engine would use ${tier:-?})"
    exit 0
fi
TOKS=$(seq 3 74 | awk '{printf "%s%d", (NR > 1 ? "," : ""), ($1 * 37) % 600}')

logits() { # OUT THREADS BATCH
    BITNET_FORCE_TIER=avx2 "$BITNET" logits -m "$m" --tokens "$TOKS" --out "$1" -t "$2" --batch "$3" -c 128 2>"$TMP/logits.err"
}
for t in 2 1; do
    if logits "$TMP/b64-$t.bin" "$t" 64 >/dev/null && logits "$TMP/b16-$t.bin" "$t" 16 >/dev/null &&
        [ -s "$TMP/b64-$t.bin" ] && cmp -s "$TMP/b64-$t.bin" "$TMP/b16-$t.bin"; then
        ok "logits_same_bits_t$t"
    else
        not_ok "logits_same_bits_t$t" "batch 64 and batch 16 differ: $(cmp "$TMP/b64-$t.bin" "$TMP/b16-$t.bin" 2>&1 | head -1) $(tail -2 "$TMP/logits.err")"
    fi
done
# one chunk of all 72 tokens: on 2 threads its units are blocks of 32 tokens, the last with
# the 8 left over (tables for its first 32, the other paths for the rest)
if logits "$TMP/b72-2.bin" 2 72 >/dev/null && [ -s "$TMP/b72-2.bin" ] && cmp -s "$TMP/b72-2.bin" "$TMP/b16-1.bin"; then
    ok logits_same_bits_one_chunk_t2
else
    not_ok logits_same_bits_one_chunk_t2 "batch 72 and batch 16 differ: $(cmp "$TMP/b72-2.bin" "$TMP/b16-1.bin" 2>&1 | head -1) $(tail -2 "$TMP/logits.err")"
fi

ids() { # BATCH
    BITNET_FORCE_TIER=avx2 "$BITNET" run -m "$m" --tokens "$TOKS" --no-bos --print-ids -n 16 --greedy -t 2 -c 128 --batch "$1" \
        2>"$TMP/run.err" | tail -n 1
}
a=$(ids 64) b=$(ids 16)
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok greedy_same_ids; else not_ok greedy_same_ids "batch 64: $a; batch 16: $b; $(tail -2 "$TMP/run.err")"; fi
