#!/usr/bin/env bash
# Architecture bitnet-b1.58 (Microsoft's 2B-4T: ReLU-squared FFN, I2_S weights), which
# llama.cpp cannot run. Two checks instead of the reference:
#   - the same weights (same seed) written as I2_S and as TQ2_0 give byte-identical logits
#     files in our engine, in the default per-token mode and in q8k mode;
#   - tests/crossval/ref_forward.py, a float64 numpy forward pass written from FORMATS.md,
#     agrees with `bitnet logits --act-quant none` (cosine >= 0.99999, same top-1 at every
#     position) for bitnet-b1.58 and for bitnet, on F32 and on I2_S weights.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_python

VOCAB=512
SHAPE=(--hidden 256 --heads 2 --kv-heads 1 --ffn 512 --layers 2 --vocab-size "$VOCAB" --etype f16 --seed 21)
toks=$(token_ids 24 "$VOCAB" 5)

# gen ARCH WTYPE: writes $TMP/ARCH-WTYPE.gguf; prints nothing, fails with the log.
gen() { run_logged "$TMP/gen.log" "$BITNET" gen-model "$TMP/$1-$2.gguf" --arch "$1" --wtype "$2" "${SHAPE[@]}"; }

# ours MODEL MODE OUT
# (an f32 KV cache: the numpy forward pass keeps K and V unrounded)
ours() { run_logged "$TMP/ours.log" "$BITNET" logits --model "$1" --tokens "$toks" --out "$3" --act-quant "$2" --threads 2 --kv-type f32; }

if gen bitnet-b1.58 i2_s && gen bitnet-b1.58 tq2_0; then
    for mode in token q8k; do
        a="$TMP/i2s-$mode.bin" b="$TMP/tq2-$mode.bin"
        if ours "$TMP/bitnet-b1.58-i2_s.gguf" "$mode" "$a" && ours "$TMP/bitnet-b1.58-tq2_0.gguf" "$mode" "$b"; then
            check "b1.58/i2_s-vs-tq2_0/$mode/identical" cmp "$a" "$b"
        else
            not_ok "b1.58/i2_s-vs-tq2_0/$mode/identical" "a logits run failed"
        fi
    done
else
    not_ok "b1.58/gen-model" "gen-model failed for i2_s or tq2_0"
fi

for arch in bitnet-b1.58 bitnet; do
    for w in f32 i2_s; do
        m="$TMP/$arch-$w.gguf"
        [ -f "$m" ] || gen "$arch" "$w" || { not_ok "$arch/$w/gen-model"; continue; }
        o="$TMP/$arch-$w-ours.bin"
        if ! ours "$m" none "$o"; then not_ok "$arch/$w/numpy/logits" "our logits run failed"; continue; fi
        np="$TMP/$arch-$w-numpy.bin"
        if run_logged "$TMP/np.log" "$PY" "$REF_FORWARD" --model "$m" --tokens "$toks" --out "$np"; then
            logits_agree "$arch/$w/numpy" "$o" "$np" "$VOCAB" 0.99999
        else
            not_ok "$arch/$w/numpy" "ref_forward.py failed"
        fi
    done
done
