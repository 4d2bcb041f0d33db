#!/usr/bin/env bash
# Cross-validation against llama.cpp (architecture `bitnet`): models written by
# `bitnet gen-model` with the same seed in every weight type, run by our engine and by the
# reference libllama (build/crossval/llama_harness), on ~24 fixed pseudo-random tokens.
#   F32, F16 weights, --act-quant none:   cosine >= 0.99999 and same top-1 at every position,
#                                         identical 32-token greedy continuations;
#   TQ2_0, TQ1_0 weights, --act-quant q8k (llama.cpp's own activation quantization): the same;
#   TQ2_0, default (per-token) activations: cosine >= 0.995 at every position (figures printed).
# Shapes: (A) head_dim 128 with 4:1 GQA and a synthetic SentencePiece vocabulary;
#         (B) the reference's real LLaMA-3 vocabulary (ggml-vocab-llama-bpe.gguf).
# See docs/CROSSVAL.md. CI=true turns a missing reference into a failure.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_harness

N_TOKENS=24 N_GEN=32 SEED=11

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
        if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$ours" --act-quant "$mode" --threads 2 &&
           run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$toks" --out "$ref" --threads 2; then
            logits_agree "$label/$w/$mode" "$ours" "$ref" "$vocab" 0.99999
        else
            not_ok "$label/$w/$mode/logits" "a logits run failed"
        fi
        greedy_agrees "$label/$w/$mode/greedy" "$m" "$toks" "$N_GEN" "$mode"
        [ "$w" = tq2_0 ] && token_mode_agrees "$label/$w/token" "$m" "$toks" "$ref" "$vocab"
        rm -f "$m"
    done
}

check_shape A 512 --hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-size 512
if [ -f "$LLAMA_BPE_VOCAB" ]; then
    check_shape B 128256 --hidden 256 --heads 4 --kv-heads 2 --ffn 512 --layers 2 --vocab-from "$LLAMA_BPE_VOCAB"
else
    not_ok "B/vocab" "$LLAMA_BPE_VOCAB is missing from the reference"
fi
