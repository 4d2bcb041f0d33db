#!/usr/bin/env bash
# Cross-validation against llama.cpp at every kernel tier this CPU has: the same comparisons
# as test_crossval_bitnet.sh (shape A: head_dim 128, 4:1 GQA), with our engine run under
# BITNET_FORCE_TIER=scalar, avx2, avxvnni, avx512 and amx in turn, the reference once.
#   TQ2_0, TQ1_0 weights, --act-quant q8k: cosine >= 0.99999 and same top-1 at every position
#       (a 24-token prompt: the multi-token GEMM paths), identical 32-token greedy
#       continuations (the one-token GEMV paths);
#   TQ2_0, default (per-token) activations: cosine >= 0.995 at every position.
# Those with an f32 KV cache on both sides; then TQ2_0 q8k with an f16 and a q8_0 KV cache
# against llama.cpp with the same cache type (cosine >= 0.9995 / 0.999 and the same top-1 at
# every position, identical greedy continuations; thresholds as test_crossval_bitnet.sh).
# A tier the CPU lacks is reported as skipped (the engine would fall back to a lower one).
# CI=true turns a missing reference into a failure.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_harness

N_TOKENS=24 N_GEN=32 SEED=11 VOCAB=512
SHAPE=(--hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-size "$VOCAB")
TOKS=$(token_ids "$N_TOKENS" "$VOCAB" 7)

# tier_in_use TIER MODEL: the tier the engine reports under BITNET_FORCE_TIER=TIER.
tier_in_use() {
    BITNET_FORCE_TIER=$1 "$BITNET" logits --model "$2" --tokens 1 --out "$TMP/probe.bin" --verbose 2>&1 |
        sed -n 's/^session: kernel tier \([a-z0-9]*\),.*/\1/p'
}

for w in tq2_0 tq1_0; do
    m="$TMP/tiers-$w.gguf"
    if ! run_logged "$TMP/gen.log" "$BITNET" gen-model "$m" --arch bitnet "${SHAPE[@]}" --wtype "$w" --etype f16 --seed "$SEED"; then
        not_ok "$w/gen-model"; continue
    fi
    ref="$TMP/$w-ref.bin"
    if ! run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$TOKS" --out "$ref" --threads "$REF_THREADS" --kv-type f32; then
        not_ok "$w/reference-logits"; continue
    fi
    g_ref=$("$HARNESS" greedy --model "$m" --tokens "$TOKS" -n "$N_GEN" --threads "$REF_THREADS" --kv-type f32 2>"$TMP/greedy.log")
    if [ "$w" = tq2_0 ]; then
        for kv in f16 q8_0; do
            run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$TOKS" --out "$TMP/$w-ref-$kv.bin" --threads "$REF_THREADS" --kv-type "$kv" ||
                not_ok "$w/reference-logits-$kv"
            "$HARNESS" greedy --model "$m" --tokens "$TOKS" -n "$N_GEN" --threads "$REF_THREADS" --kv-type "$kv" >"$TMP/$w-greedy-$kv.txt" 2>"$TMP/greedy.log"
        done
    fi
    for tier in scalar avx2 avxvnni avx512 amx; do
        used=$(tier_in_use "$tier" "$m")
        if [ "$used" != "$tier" ]; then
            ok "$w/$tier # skip: this CPU has no $tier tier (the engine would use ${used:-?})"
            continue
        fi
        ours="$TMP/$w-$tier-q8k.bin"
        if run_logged "$TMP/ours.log" env BITNET_FORCE_TIER="$tier" "$BITNET" logits --model "$m" --tokens "$TOKS" --out "$ours" --act-quant q8k --threads 2 --kv-type f32; then
            logits_agree "$w/$tier/q8k" "$ours" "$ref" "$VOCAB" 0.99999
        else
            not_ok "$w/$tier/q8k/logits" "a logits run failed"
        fi
        g_ours=$(BITNET_FORCE_TIER="$tier" "$BITNET" run --model "$m" --tokens "$TOKS" -n "$N_GEN" --greedy --print-ids --act-quant q8k --threads 2 --kv-type f32 2>"$TMP/run.log" | tr -s ' \n' ' ' | sed 's/ $//')
        same_ids "$w/$tier/q8k/greedy" "$g_ours" "$g_ref"
        if [ "$w" = tq2_0 ]; then
            ours="$TMP/$w-$tier-token.bin"
            if run_logged "$TMP/ours.log" env BITNET_FORCE_TIER="$tier" "$BITNET" logits --model "$m" --tokens "$TOKS" --out "$ours" --threads 2 --kv-type f32; then
                logits_agree "$w/$tier/token" "$ours" "$ref" "$VOCAB" 0.995 cosine-only
            else
                not_ok "$w/$tier/token/logits" "our default-mode logits run failed"
            fi
            for kv in f16 q8_0; do
                ours="$TMP/$w-$tier-q8k-$kv.bin"
                if run_logged "$TMP/ours.log" env BITNET_FORCE_TIER="$tier" "$BITNET" logits --model "$m" --tokens "$TOKS" --out "$ours" --act-quant q8k --threads 2 --kv-type "$kv"; then
                    logits_agree "$w/$tier/q8k/kv-$kv" "$ours" "$TMP/$w-ref-$kv.bin" "$VOCAB" "$([ $kv = f16 ] && echo 0.9995 || echo 0.999)"
                else
                    not_ok "$w/$tier/q8k/kv-$kv/logits" "a logits run failed"
                fi
                g_ours=$(BITNET_FORCE_TIER="$tier" "$BITNET" run --model "$m" --tokens "$TOKS" -n "$N_GEN" --greedy --print-ids --act-quant q8k --threads 2 --kv-type "$kv" 2>"$TMP/run.log" | tr -s ' \n' ' ' | sed 's/ $//')
                same_ids "$w/$tier/q8k/kv-$kv/greedy" "$g_ours" "$(cat "$TMP/$w-greedy-$kv.txt")"
            done
        fi
    done
    rm -f "$m"
done
