#!/usr/bin/env bash
# Cross-validation of embeddings (`bitnet embed`, bitnet_session_embed) against llama.cpp's
# (build/crossval/llama_harness embed: a context with embeddings on and the pooling type set):
# models of `bitnet gen-model --arch bitnet` (the shape of test_crossval_bitnet.sh's A: head_dim
# 128, 4:1 GQA), ~24 fixed pseudo-random tokens, both unnormalized, f32 KV cache on both sides,
# pooling mean, last, cls and none (every position's vector):
#   F32 weights, --act-quant none: cosine >= 0.99999 for every vector (as the logits);
#   TQ2_0, --act-quant q8k (llama.cpp's own activation quantization): >= 0.9995 (the logits'
#   threshold, test_crossval_llama.sh says why).
# Then what `bitnet embed` adds: --embd-normalize 2 (the default) prints the unnormalized
# vector scaled to length 1, 1 to a sum of magnitudes of 1; a bad --pooling is a usage error.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_harness
require_python

VOCAB=512 N_EMBD=512
SHAPE=(--arch bitnet --hidden "$N_EMBD" --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-size "$VOCAB" --etype f16 --seed 11)
TOKS=$(token_ids 24 "$VOCAB" 7)

# versus_llama_cpp LABEL MODEL MODE MIN_COSINE: the four poolings, ours vs llama.cpp.
versus_llama_cpp() {
    local label=$1 m=$2 mode=$3 min=$4 pooling ours ref
    for pooling in mean last cls none; do
        ours="$TMP/$label-$pooling-ours.bin" ref="$TMP/$label-$pooling-ref.bin"
        if run_logged "$TMP/ours.log" "$BITNET" embed --model "$m" --tokens "$TOKS" --pooling "$pooling" --embd-normalize -1 \
                --out "$ours" --act-quant "$mode" --threads 2 --kv-type f32 &&
           run_logged "$TMP/ref.log" "$HARNESS" embed --model "$m" --tokens "$TOKS" --pooling "$pooling" --out "$ref" --threads "$REF_THREADS" --kv-type f32; then
            logits_agree "$label/$mode/$pooling" "$ours" "$ref" "$N_EMBD" "$min" cosine-only
        else
            not_ok "$label/$mode/$pooling" "an embedding run failed"
        fi
    done
}

for w in f32 tq2_0; do
    m="$TMP/bitnet-$w.gguf"
    if ! run_logged "$TMP/gen.log" "$BITNET" gen-model "$m" --wtype "$w" "${SHAPE[@]}"; then not_ok "$w/gen-model"; continue; fi
    case $w in
        f32) versus_llama_cpp "$w" "$m" none 0.99999 ;;
        *) versus_llama_cpp "$w" "$m" q8k 0.9995 ;;
    esac
done

# The printed vectors: the raw mean vector normalized by p = 2 and p = 1.
m="$TMP/bitnet-tq2_0.gguf"
for p in 2 1; do
    printed="$TMP/printed-$p.txt"
    if run_logged "$TMP/p.log" "$BITNET" embed --model "$m" --tokens "$TOKS" --embd-normalize "$p" --threads 2 --kv-type f32 --act-quant q8k \
            && "$BITNET" embed --model "$m" --tokens "$TOKS" --embd-normalize "$p" --threads 2 --kv-type f32 --act-quant q8k >"$printed" 2>/dev/null; then
        check "normalize-$p" "$PY" - "$printed" "$TMP/tq2_0-mean-ours.bin" "$p" <<'PYEOF'
import sys
import numpy as np
printed = np.array([float(x) for x in open(sys.argv[1]).read().split()])
raw = np.fromfile(sys.argv[2], dtype="<f4").astype(np.float64)
p = int(sys.argv[3])
want = raw / (np.abs(raw) ** p).sum() ** (1.0 / p)
ok = printed.shape == want.shape and np.abs(printed - want).max() < 1e-6 and abs((np.abs(printed) ** p).sum() - 1) < 1e-5
print("max|diff| %.3g" % np.abs(printed - want).max() if printed.shape == want.shape else "sizes differ")
sys.exit(0 if ok else 1)
PYEOF
    else
        not_ok "normalize-$p" "bitnet embed failed"
    fi
done
"$BITNET" embed --model "$m" --tokens "$TOKS" --pooling max >/dev/null 2>"$TMP/err.txt"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "must be mean, last, cls or none" "$TMP/err.txt"; then ok "bad-pooling"; else not_ok "bad-pooling" "exit $rc: $(cat "$TMP/err.txt")"; fi
