#!/usr/bin/env bash
# Cross-validation against llama.cpp (architecture `bitnet`): models written by
# `bitnet gen-model` with the same seed in every weight type, run by our engine and by the
# reference libllama (build/crossval/llama_harness), on ~24 fixed pseudo-random tokens.
#   F32, F16 weights, --act-quant none:   cosine >= 0.99999 and same top-1 at every position,
#                                         identical 32-token greedy continuations;
#   TQ2_0, TQ1_0 weights, --act-quant q8k (llama.cpp's own activation quantization): the same;
#   TQ2_0, default (per-token) activations: cosine >= 0.995 at every position (figures printed).
# All of that with an f32 KV cache on both sides (--kv-type f32: like with like). Then the other
# KV cache types against llama.cpp with the same type (shape A: F32 and TQ2_0 weights, with
# top-1 and identical greedy continuations; B: TQ2_0, whose random 128256-token logits are
# nearly flat, so that a near-tie may go either way at these differences: cosine only, the
# greedy agreement printed):
#   f16:  --act-quant none cosine >= 0.99999 (measured 1 - 9e-8); q8k >= 0.9995 (measured
#         1 - 1.5e-4: llama.cpp's non-flash f16 path also rounds Q and the softmax weights to
#         f16, and int8 activations amplify any difference: f16 vs f32 within either engine
#         is 1 - 2.4e-4 on the same model);
#   q8_0: none >= 0.9995 (measured 1 - 9e-5: llama.cpp quantizes Q to q8_0 for its K products,
#         we keep Q in f32); q8k >= 0.999 (measured 1 - 4.2e-4).
# Shapes: (A) head_dim 128 with 4:1 GQA and a synthetic SentencePiece vocabulary;
#         (B) the reference's real LLaMA-3 vocabulary (ggml-vocab-llama-bpe.gguf).
# See docs/CROSSVAL.md. CI=true turns a missing reference into a failure.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_harness

N_TOKENS=24 N_GEN=32 SEED=11

# check_kv_types LABEL MODEL MODE TOKENS VOCAB: f16 and q8_0 KV caches, ours vs llama.cpp's.
check_kv_types() {
    local label=$1 m=$2 mode=$3 toks=$4 vocab=$5 kv min ours ref g_ours g_ref
    for kv in f16 q8_0; do
        case $kv/$mode in f16/none) min=0.99999 ;; f16/*|q8_0/none) min=0.9995 ;; *) min=0.999 ;; esac
        ours="$TMP/${label//\//-}-$kv-ours.bin" ref="$TMP/${label//\//-}-$kv-ref.bin"
        if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$ours" --act-quant "$mode" --threads 2 --kv-type "$kv" &&
           run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$toks" --out "$ref" --threads "$REF_THREADS" --kv-type "$kv"; then
            logits_agree "$label/$mode/kv-$kv" "$ours" "$ref" "$vocab" "$min" "$([ "${label%%/*}" = A ] || echo cosine-only)"
        else
            not_ok "$label/$mode/kv-$kv/logits" "a logits run failed"
        fi
        g_ours=$("$BITNET" run --model "$m" --tokens "$toks" -n "$N_GEN" --greedy --print-ids --act-quant "$mode" --threads 2 --kv-type "$kv" 2>"$TMP/run.log" | tr -s ' \n' ' ' | sed 's/ $//')
        g_ref=$("$HARNESS" greedy --model "$m" --tokens "$toks" -n "$N_GEN" --threads "$REF_THREADS" --kv-type "$kv" 2>"$TMP/greedy.log")
        if [ "${label%%/*}" = A ]; then
            same_ids "$label/$mode/kv-$kv/greedy" "$g_ours" "$g_ref"
        else
            local a=($g_ours) b=($g_ref) n=0
            while [ $n -lt ${#a[@]} ] && [ "${a[$n]}" = "${b[$n]:-}" ]; do n=$((n + 1)); done
            echo "    # $label/$mode/kv-$kv/greedy: the first $n of ${#a[@]} tokens agree (reported, not asserted)"
        fi
    done
}

# check_shape LABEL VOCAB_SIZE GEN_MODEL_ARGS...
check_shape() {
    local label=$1 vocab=$2; shift 2
    local toks w mode m ours ref
    toks=$(token_ids "$N_TOKENS" "$vocab" 7)
    for w in f32 f16 tq2_0 tq1_0; do
        m="$TMP/$label-$w.gguf"
        if ! run_logged "$TMP/gen.log" "$BITNET" gen-model "$m" --arch bitnet "$@" --wtype "$w" --etype f16 --seed "$SEED"; then
            not_ok "$label/$w/gen-model"; continue
        fi
        case $w in f32|f16) mode=none ;; *) mode=q8k ;; esac
        ours="$TMP/$label-$w-ours.bin" ref="$TMP/$label-$w-ref.bin"
        if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$ours" --act-quant "$mode" --threads 2 --kv-type f32 &&
           run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$toks" --out "$ref" --threads "$REF_THREADS" --kv-type f32; then
            logits_agree "$label/$w/$mode" "$ours" "$ref" "$vocab" 0.99999
        else
            not_ok "$label/$w/$mode/logits" "a logits run failed"
        fi
        greedy_agrees "$label/$w/$mode/greedy" "$m" "$toks" "$N_GEN" "$mode"
        [ "$w" = tq2_0 ] && token_mode_agrees "$label/$w/token" "$m" "$toks" "$ref" "$vocab"
        if [ "$w" = tq2_0 ] || [ "$w/$label" = f32/A ]; then check_kv_types "$label/$w" "$m" "$mode" "$toks" "$vocab"; fi
        rm -f "$m"
    done
}

check_shape A 512 --hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-size 512
if [ -f "$LLAMA_BPE_VOCAB" ]; then
    check_shape B 128256 --hidden 256 --heads 4 --kv-heads 2 --ffn 512 --layers 2 --vocab-from "$LLAMA_BPE_VOCAB"
else
    not_ok "B/vocab" "$LLAMA_BPE_VOCAB is missing from the reference"
fi
