#!/usr/bin/env bash
# Cross-validation on models written by gguf-py itself (scripts/gguf_py_gen_model.py: the
# reference's GGUFWriter and its own TQ1_0/TQ2_0 quantizers), so that a writer bug of ours
# cannot hide a reader bug of ours. Architecture `bitnet`, head_dim 128 with 4:1 GQA.
#   - the float64 numpy reference (tests/crossval/ref_forward.py) agrees with llama.cpp on F32
#     (checks the harness and the reference against each other);
#   - `bitnet compat-check` accepts every file;
#   - ours vs llama.cpp: F32 with --act-quant none, TQ2_0 and TQ1_0 with --act-quant q8k:
#     cosine >= 0.99999 and same top-1 at every position, identical greedy continuations.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_python
require_harness

VOCAB=512 N_GEN=32
SHAPE=(--hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-size "$VOCAB")
toks=$(token_ids 24 "$VOCAB" 3)

for w in f32 tq2_0 tq1_0; do
    m="$TMP/gguf-py-$w.gguf"
    if ! run_logged "$TMP/gen.log" "$PY" "$GGUF_PY_GEN" "$m" "${SHAPE[@]}" --wtype "$w" --seed 5; then
        not_ok "$w/gguf-py-gen"; continue
    fi
    case $w in f32) mode=none ;; *) mode=q8k ;; esac
    check "$w/compat-check" run_logged "$TMP/compat.log" "$BITNET" compat-check "$m"
    ref="$TMP/$w-ref.bin" ours="$TMP/$w-ours.bin"
    if ! run_logged "$TMP/ref.log" "$HARNESS" logits --model "$m" --tokens "$toks" --out "$ref" --threads "$REF_THREADS" --kv-type f32; then
        not_ok "$w/harness-logits"; continue
    fi
    if [ "$w" = f32 ]; then
        np="$TMP/$w-numpy.bin"
        if run_logged "$TMP/np.log" "$PY" "$REF_FORWARD" --model "$m" --tokens "$toks" --out "$np"; then
            logits_agree "$w/numpy-vs-llama.cpp" "$np" "$ref" "$VOCAB" 0.99999
        else
            not_ok "$w/numpy-vs-llama.cpp" "ref_forward.py failed"
        fi
    fi
    if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$ours" --act-quant "$mode" --threads 2 --kv-type f32; then
        logits_agree "$w/$mode" "$ours" "$ref" "$VOCAB" 0.99999
    else
        not_ok "$w/$mode/logits" "our logits run failed"
    fi
    greedy_agrees "$w/$mode/greedy" "$m" "$toks" "$N_GEN" "$mode"
done
