#!/usr/bin/env bash
# `bitnet perplexity` against llama.cpp: our CLI vs the harness's own implementation of
# llama-perplexity's method over llama.cpp's logits (build/crossval/llama_harness perplexity),
# on tests/data/tokenizer_corpus.txt with the reference's LLaMA SentencePiece vocabulary
# (32000 tokens; both tokenizers give the same ids, see test_tokenizer_parity.sh), windows of
# 128 tokens, 6 windows (378 scored tokens). Models: `bitnet gen-model` shape A (hidden 512,
# 4 heads / 1 KV head, FFN 1024, 2 layers), seed 11:
#   llama TQ2_0 --act-quant q8k, llama F16 --act-quant none, bitnet TQ2_0 q8k:
#     PPL within 0.5% of llama.cpp's, error estimate within 1% of its error estimate.
#   KL divergence: a base saved by our run and read back by the same run: mean KLD < 1e-5,
#     same top token at every position, PPL(Q) equal to the plain run's PPL (1e-5);
#     a base written by the harness from llama.cpp's F16 logits, read by our F16 none run:
#     mean KLD < 1e-4, same top token at >= 99% of positions; by our TQ2_0 q8k run: mean
#     KLD < 1e-2 (figures printed).
#   Errors: a text shorter than two windows, a base file of another vocabulary, a truncated
#     base file, --kl-divergence without a base, --chunks 0: clear messages, non-zero exit;
#     --chunks -1 scores every window.
# CI=true turns a missing reference into a failure.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_harness
require_python

VOCAB_SPM="$REF_DIR/llama.cpp/models/ggml-vocab-llama-spm.gguf"
[ -f "$VOCAB_SPM" ] || unavailable "$VOCAB_SPM is missing from the reference"
TEXT="$ROOT/tests/data/tokenizer_corpus.txt"
CTX=128 CHUNKS=6
SHAPE=(--hidden 512 --heads 4 --kv-heads 1 --ffn 1024 --layers 2 --vocab-from "$VOCAB_SPM" --etype f16 --seed 11)

# field FILE REGEX: the first number after REGEX in FILE.
field() { sed -n "s/.*$2 *\([0-9.e+-]*\).*/\1/p" "$1" | head -1; }

# close NAME A B REL: ok when |A - B| <= REL * |B|.
close() {
    if "$PY" -c "import sys; a, b, r = map(float, sys.argv[1:4]); sys.exit(0 if abs(a - b) <= r * abs(b) else 1)" "$2" "$3" "$4"; then
        ok "$1"
    else
        not_ok "$1" "$2 vs $3 (allowed relative difference $4)"
    fi
    echo "    ours $2, reference $3"
}

# versus_llama_cpp LABEL MODEL MODE
versus_llama_cpp() {
    local label=$1 m=$2 mode=$3
    if run_logged "$TMP/ours.txt" "$BITNET" perplexity -m "$m" --kv-type f32 -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" --act-quant "$mode" -t 2 &&
       run_logged "$TMP/ref.txt" "$HARNESS" perplexity --model "$m" --file "$TEXT" -c "$CTX" --chunks "$CHUNKS" --threads 2; then
        close "$label/ppl" "$(field "$TMP/ours.txt" 'PPL =')" "$(field "$TMP/ref.txt" 'PPL =')" 0.005
        close "$label/error-estimate" "$(field "$TMP/ours.txt" '+\/-')" "$(field "$TMP/ref.txt" '+\/-')" 0.01
    else
        not_ok "$label/run" "a perplexity run failed"
    fi
}

gen() { run_logged "$TMP/gen.log" "$BITNET" gen-model "$1" "${SHAPE[@]}" "${@:2}"; }

TQ="$TMP/llama-tq2.gguf" F16="$TMP/llama-f16.gguf" BN="$TMP/bitnet-tq2.gguf"
gen "$TQ" --arch llama --wtype tq2_0 || not_ok "gen/llama-tq2_0"
gen "$F16" --arch llama --wtype f16 || not_ok "gen/llama-f16"
gen "$BN" --arch bitnet --wtype tq2_0 || not_ok "gen/bitnet-tq2_0"
versus_llama_cpp llama/tq2_0/q8k "$TQ" q8k
versus_llama_cpp llama/f16/none "$F16" none
versus_llama_cpp bitnet/tq2_0/q8k "$BN" q8k

# kl_run NAME MODEL MODE BASE: our --kl-divergence run against BASE, report in $TMP/kl.txt.
kl_run() {
    run_logged "$TMP/kl.txt" "$BITNET" perplexity -m "$2" --kv-type f32 --kl-divergence --kl-divergence-base "$4" --act-quant "$3" -t 2 ||
        { not_ok "$1/run" "the --kl-divergence run failed"; return 1; }
    grep -E '^(Mean|Same top)' "$TMP/kl.txt" | sed 's/^/    /'
}

# below NAME VALUE LIMIT: ok when VALUE < LIMIT; at_least NAME VALUE MIN: VALUE >= MIN.
below() { if "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 is not below $3"; fi; }
at_least() { if "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 is below $3"; fi; }

# Our own base, read back by the same run.
if run_logged "$TMP/ours-base.txt" "$BITNET" perplexity -m "$F16" --kv-type f32 -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" --act-quant none -t 2 \
       --kl-divergence-base "$TMP/ours.kl" && kl_run kl/self "$F16" none "$TMP/ours.kl"; then
    below kl/self/kld "$(field "$TMP/kl.txt" 'Mean    KLD:')" 1e-5
    at_least kl/self/same-top "$(field "$TMP/kl.txt" 'Same top p:')" 100
    close kl/self/ppl-q "$(field "$TMP/kl.txt" 'Mean PPL(Q) *:')" "$(field "$TMP/ours-base.txt" 'PPL =')" 1e-5
fi

# llama.cpp's logits as the base (written by the harness, in llama.cpp's file layout).
if run_logged "$TMP/ref-base.txt" "$HARNESS" perplexity --model "$F16" --file "$TEXT" -c "$CTX" --chunks "$CHUNKS" --threads 2 \
       --kl-base "$TMP/ref.kl"; then
    if kl_run kl/llama.cpp-f16/f16-none "$F16" none "$TMP/ref.kl"; then
        below kl/llama.cpp-f16/f16-none/kld "$(field "$TMP/kl.txt" 'Mean    KLD:')" 1e-4
        at_least kl/llama.cpp-f16/f16-none/same-top "$(field "$TMP/kl.txt" 'Same top p:')" 99
    fi
    if kl_run kl/llama.cpp-f16/tq2_0-q8k "$TQ" q8k "$TMP/ref.kl"; then
        below kl/llama.cpp-f16/tq2_0-q8k/kld "$(field "$TMP/kl.txt" 'Mean    KLD:')" 1e-2
    fi
else
    not_ok "kl/harness-base" "the harness could not write its base"
fi

# Errors.
head -c 300 "$TEXT" >"$TMP/short.txt"
expect_fail() {
    local name=$1 want=$2; shift 2
    "$@" >"$TMP/err.out" 2>&1
    local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$want" "$TMP/err.out"; then ok "$name"; else not_ok "$name" "exit $rc, expected a message with '$want'"; sed 's/^/    /' "$TMP/err.out" | tail -3; fi
}
expect_fail errors/short-text "needs at least" "$BITNET" perplexity -m "$F16" --kv-type f32 -f "$TMP/short.txt" -c "$CTX"
"$BITNET" gen-model "$TMP/small-vocab.gguf" --arch llama --hidden 256 --layers 1 --heads 2 --kv-heads 1 --ffn 256 --vocab-size 512 --wtype f16 2>/dev/null
expect_fail errors/other-vocab "vocabulary of 32000" "$BITNET" perplexity -m "$TMP/small-vocab.gguf" --kl-divergence --kl-divergence-base "$TMP/ours.kl"
head -c 100000 "$TMP/ours.kl" >"$TMP/truncated.kl"
expect_fail errors/truncated-base "does not match the window length" "$BITNET" perplexity -m "$F16" --kv-type f32 --kl-divergence --kl-divergence-base "$TMP/truncated.kl"
expect_fail errors/not-a-base "not a log-probability file" "$BITNET" perplexity -m "$F16" --kv-type f32 --kl-divergence --kl-divergence-base "$TEXT"
expect_fail errors/kl-needs-base "needs --kl-divergence-base" "$BITNET" perplexity -m "$F16" --kv-type f32 --kl-divergence
expect_fail errors/zero-chunks "positive integer, or -1" "$BITNET" perplexity -m "$F16" -f "$TEXT" -c "$CTX" --chunks 0
# --chunks -1 (llama-perplexity's default): every window, as without --chunks
all=$("$BITNET" perplexity -m "$F16" -f "$TEXT" -c "$CTX" -t 2 2>&1 | grep 'scored in')
minus1=$("$BITNET" perplexity -m "$F16" -f "$TEXT" -c "$CTX" --chunks -1 -t 2 2>&1 | grep 'scored in')
check chunks-minus-1-is-all [ -n "$all" -a "$all" = "$minus1" ]
